-- Posts by users; a post's updated_at is kept current by a trigger.
CREATE TABLE posts (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title text NOT NULL,
    updated_at timestamptz
);
CREATE INDEX posts_user_id ON posts (user_id);

CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TRIGGER posts_touch BEFORE INSERT OR UPDATE ON posts
    FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
