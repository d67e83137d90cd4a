-- docker-compose: the Hatchet engine's own role and database (UTC, as the
-- engine requires). Parley's database is created by the image (POSTGRES_DB).
CREATE ROLE hatchet LOGIN PASSWORD 'hatchet';
CREATE DATABASE hatchet OWNER hatchet;
ALTER DATABASE hatchet SET timezone TO 'UTC';
-- The scale-out deployment's own database (profile "cluster").
CREATE DATABASE hatchet_cluster OWNER hatchet;
ALTER DATABASE hatchet_cluster SET timezone TO 'UTC';
