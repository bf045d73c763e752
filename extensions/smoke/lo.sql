-- lo: the lo type and lo_manage trigger on large objects.
CREATE TABLE smoke_images (title text, raster lo);
CREATE TRIGGER smoke_images_lo BEFORE UPDATE OR DELETE ON smoke_images
    FOR EACH ROW EXECUTE FUNCTION lo_manage(raster);
INSERT INTO smoke_images VALUES ('a', lo_from_bytea(0, 'pixels'));
-- check
SELECT lo_get(raster) = 'pixels'::bytea FROM smoke_images;
SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'smoke_images_lo');
