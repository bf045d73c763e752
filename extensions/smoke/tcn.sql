-- tcn: triggered change notifications.
CREATE TABLE smoke_tcn (id int PRIMARY KEY, v text);
CREATE TRIGGER smoke_tcn_notify AFTER INSERT OR UPDATE OR DELETE ON smoke_tcn
    FOR EACH ROW EXECUTE FUNCTION triggered_change_notification();
-- check
LISTEN tcn;
INSERT INTO smoke_tcn VALUES (1, 'a') ON CONFLICT (id) DO UPDATE SET v = excluded.v;
SELECT count(*) = 1 FROM smoke_tcn;
UNLISTEN tcn;
