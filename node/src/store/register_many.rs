//! Registers of one group commit written with one statement: an `INSERT ... SELECT FROM UNNEST`
//! upsert instead of two round trips per device. The benchmark showed the per-device round trips
//! were what every device in a batch waited for (BENCHMARKS.md, registration storm).

use std::collections::HashMap;

use sqlx::{Postgres, Transaction};

use super::{NewRegistration, RegistrationRow, COLUMNS_PREFIXED};

#[derive(sqlx::FromRow)]
struct Registered {
    #[sqlx(flatten)]
    row: RegistrationRow,
    /// The registration id this Register replaced (TS 1.1 §6.2.1), if the endpoint had one.
    replaced: Option<String>,
}

/// Upserts `regs` (distinct endpoints) and returns, in input order, each stored row and the
/// registration id it replaced.
pub(super) async fn register_many(
    tx: &mut Transaction<'_, Postgres>,
    regs: &[&NewRegistration],
) -> Result<Vec<(RegistrationRow, Option<String>)>, sqlx::Error> {
    let col =
        |f: fn(&NewRegistration) -> String| regs.iter().map(|r| f(r)).collect::<Vec<String>>();
    let endpoints = col(|r| r.endpoint.clone());
    let lifetimes: Vec<i64> = regs.iter().map(|r| r.lifetime_s).collect();
    let queue: Vec<bool> = regs.iter().map(|r| r.queue_mode).collect();
    let sms: Vec<Option<String>> = regs.iter().map(|r| r.sms_number.clone()).collect();
    // Arrays of arrays do not UNNEST row by row: content formats travel as "60,110" text.
    let formats = col(|r| {
        r.content_formats
            .iter()
            .map(i32::to_string)
            .collect::<Vec<_>>()
            .join(",")
    });
    let attributes = col(|r| r.attributes.to_string());
    let sql = format!(
        "WITH input AS ( \
           SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], \
             $7::bool[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[]) \
           AS t(endpoint, reg_id, owner_node, peer_addr, lifetime_s, binding, queue_mode, lwm2m_version, \
             sms_number, root_path, object_links, content_formats, attributes, psk_identity) \
           ORDER BY endpoint), \
         old AS (SELECT o.endpoint, o.reg_id FROM registrations o JOIN input USING (endpoint) FOR UPDATE OF o) \
         INSERT INTO registrations AS r (endpoint, reg_id, owner_node, peer_addr, lifetime_s, binding, queue_mode, \
           lwm2m_version, sms_number, root_path, object_links, content_formats, attributes, psk_identity, \
           registered_at, updated_at, expires_at) \
         SELECT endpoint, reg_id, owner_node, peer_addr, lifetime_s, binding, queue_mode, lwm2m_version, \
           sms_number, root_path, object_links, \
           COALESCE(string_to_array(NULLIF(content_formats, ''), ',')::int[], '{{}}'), attributes::jsonb, \
           psk_identity, now(), now(), now() + make_interval(secs => lifetime_s) FROM input \
         ON CONFLICT (endpoint) DO UPDATE SET reg_id = EXCLUDED.reg_id, owner_node = EXCLUDED.owner_node, \
           peer_addr = EXCLUDED.peer_addr, lifetime_s = EXCLUDED.lifetime_s, binding = EXCLUDED.binding, \
           queue_mode = EXCLUDED.queue_mode, lwm2m_version = EXCLUDED.lwm2m_version, \
           sms_number = EXCLUDED.sms_number, root_path = EXCLUDED.root_path, \
           object_links = EXCLUDED.object_links, content_formats = EXCLUDED.content_formats, \
           attributes = EXCLUDED.attributes, psk_identity = EXCLUDED.psk_identity, registered_at = now(), updated_at = now(), \
           expires_at = EXCLUDED.expires_at \
         RETURNING {COLUMNS_PREFIXED}, (SELECT old.reg_id FROM old WHERE old.endpoint = r.endpoint) AS replaced"
    );
    let rows: Vec<Registered> = sqlx::query_as(&sql)
        .bind(&endpoints)
        .bind(col(|r| r.reg_id.clone()))
        .bind(col(|r| r.owner_node.clone()))
        .bind(col(|r| r.peer_addr.clone()))
        .bind(&lifetimes)
        .bind(col(|r| r.binding.clone()))
        .bind(&queue)
        .bind(col(|r| r.lwm2m_version.clone()))
        .bind(&sms)
        .bind(col(|r| r.root_path.clone()))
        .bind(col(|r| r.object_links.clone()))
        .bind(&formats)
        .bind(&attributes)
        .bind(
            regs.iter()
                .map(|r| r.psk_identity.clone())
                .collect::<Vec<Option<String>>>(),
        )
        .fetch_all(&mut **tx)
        .await?;
    let mut by_endpoint: HashMap<String, Registered> = rows
        .into_iter()
        .map(|r| (r.row.endpoint.clone(), r))
        .collect();
    endpoints
        .iter()
        .map(|ep| {
            by_endpoint
                .remove(ep)
                .map(|r| (r.row, r.replaced))
                .ok_or_else(|| sqlx::Error::Protocol(format!("upsert returned no row for {ep}")))
        })
        .collect()
}
