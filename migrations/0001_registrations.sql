-- Registrations: the source of truth for which devices are registered and which node owns them.
CREATE TABLE registrations (
    endpoint            TEXT PRIMARY KEY,
    reg_id              TEXT NOT NULL UNIQUE,
    owner_node          TEXT NOT NULL,
    peer_addr           TEXT NOT NULL,
    lifetime_s          BIGINT NOT NULL CHECK (lifetime_s > 0),
    binding             TEXT NOT NULL,
    queue_mode          BOOLEAN NOT NULL,
    lwm2m_version       TEXT NOT NULL,
    sms_number          TEXT,
    root_path           TEXT NOT NULL,
    object_links        TEXT NOT NULL,
    content_formats     INTEGER[] NOT NULL DEFAULT '{}',
    attributes          JSONB NOT NULL DEFAULT '{}',
    registered_at       TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    expires_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX registrations_expires_at ON registrations (expires_at);
CREATE INDEX registrations_owner_node ON registrations (owner_node);

-- Transactional outbox: events are written in the same transaction as the state change and
-- relayed to JetStream (Nats-Msg-Id = event_id) by whichever node holds the relay lock.
CREATE TABLE outbox (
    id          BIGSERIAL PRIMARY KEY,
    event_id    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    payload     BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
