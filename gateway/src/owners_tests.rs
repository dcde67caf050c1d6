use super::*;
use lwm2m_proto::v1::Registration;

fn owners(capacity: usize) -> Owners {
    // Never connects: these tests only touch the cache.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .connect_lazy("postgres://nobody@127.0.0.1:1/none")
        .expect("lazy pool");
    Owners::new(pool, capacity)
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

fn event(kind: Kind, endpoint: &str, node: &str, secs: i64) -> RegistrationEvent {
    RegistrationEvent {
        kind: kind as i32,
        registration: Some(Registration {
            endpoint: endpoint.into(),
            owner_node: node.into(),
            last_update: Some(prost_types::Timestamp {
                seconds: secs,
                nanos: 0,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn an_event_moves_a_cached_endpoint_to_its_new_owner() {
    let o = owners(10);
    o.learn("ep", o.intern("node-a"), at(100));
    o.apply(&event(Kind::Update, "ep", "node-b", 101));
    assert_eq!(o.cached("ep").as_deref(), Some("node-b"));
}

#[tokio::test]
async fn an_older_event_does_not_undo_newer_news() {
    let o = owners(10);
    o.learn("ep", o.intern("node-b"), at(200));
    o.apply(&event(Kind::New, "ep", "node-a", 150));
    assert_eq!(o.cached("ep").as_deref(), Some("node-b"));
    // Nor does an older database answer.
    assert_eq!(&*o.learn("ep", o.intern("node-a"), at(199)), "node-b");
}

#[tokio::test]
async fn events_for_endpoints_not_cached_are_not_kept() {
    let o = owners(10);
    o.apply(&event(Kind::New, "other", "node-a", 100));
    assert_eq!(o.cached("other"), None);
}

#[tokio::test]
async fn deregistration_and_expiry_remove_the_entry() {
    let o = owners(10);
    o.learn("a", o.intern("node-a"), at(100));
    o.learn("b", o.intern("node-a"), at(100));
    o.apply(&event(Kind::Delete, "a", "node-a", 100));
    o.apply(&event(Kind::Expire, "b", "node-a", 100));
    assert_eq!(o.cached("a"), None);
    assert_eq!(o.cached("b"), None);
}

#[tokio::test]
async fn forget_only_removes_the_node_it_names() {
    let o = owners(10);
    o.learn("ep", o.intern("node-b"), at(100));
    o.forget("ep", "node-a");
    assert_eq!(o.cached("ep").as_deref(), Some("node-b"));
    o.forget("ep", "node-b");
    assert_eq!(o.cached("ep"), None);
}

#[tokio::test]
async fn a_full_cache_evicts_an_eighth_instead_of_growing() {
    let o = owners(16);
    for i in 0..16 {
        o.learn(&format!("ep-{i}"), o.intern("n"), at(1));
    }
    assert_eq!(o.entries().len(), 16);
    o.learn("new", o.intern("n"), at(1));
    assert_eq!(o.entries().len(), 16 - 2 + 1);
    assert_eq!(o.cached("new").as_deref(), Some("n"));
}

#[tokio::test]
async fn node_ids_are_shared_between_entries() {
    let o = owners(10);
    let a = o.learn("a", o.intern("node-a"), at(1));
    let b = o.learn("b", o.intern("node-a"), at(1));
    assert!(Arc::ptr_eq(&a, &b));
}
