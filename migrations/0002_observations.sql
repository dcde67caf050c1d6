-- Durable observations (LwM2M TS 1.1 §6.4): what a node needs to accept a device's
-- notifications again after a restart (its token and address), and what ListObservations shows.
CREATE TABLE observations (
    id              TEXT PRIMARY KEY,
    endpoint        TEXT NOT NULL,
    reg_id          TEXT NOT NULL,
    paths           TEXT[] NOT NULL,
    content_format  INTEGER NOT NULL DEFAULT 0,
    -- The CoAP token of the observation (RFC 7641 §3.1), unique per device address.
    token           BYTEA NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX observations_endpoint ON observations (endpoint, id);

-- A new Register of an endpoint (its reg_id changes), a de-registration and an expiry end the
-- endpoint's observations (TS 1.1 §6.2.1: the server cancels them on a new registration). A
-- trigger covers every path that changes registrations, in the same transaction.
CREATE FUNCTION registrations_end_observations() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.reg_id = OLD.reg_id THEN
        RETURN NULL;
    END IF;
    DELETE FROM observations WHERE endpoint = OLD.endpoint AND reg_id = OLD.reg_id;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER registrations_end_observations
    AFTER UPDATE OF reg_id OR DELETE ON registrations
    FOR EACH ROW EXECUTE FUNCTION registrations_end_observations();
