-- PSK credentials per endpoint (issue #7). A PSK identity names one endpoint only: the DTLS
-- server finds the key by the identity the client presents, before it knows the endpoint.
CREATE TABLE security_credentials (
    endpoint        TEXT PRIMARY KEY,
    psk_identity    TEXT NOT NULL UNIQUE,
    psk_key         BYTEA NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The PSK identity the registration was made with (NULL: plain CoAP). Every later message of the
-- registration must come over the same security context, and routed requests go out over DTLS.
ALTER TABLE registrations ADD COLUMN psk_identity TEXT;
