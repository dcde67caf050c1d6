use super::*;
use std::time::Duration;

use coap_lite::{MessageType, ResponseType};

/// A NON 2.05 notification with `token` and Observe 7, as a device sends it.
fn notification(token: &[u8]) -> Vec<u8> {
    let mut p = Packet::new();
    p.header.set_type(MessageType::NonConfirmable);
    p.header.code = coap_lite::MessageClass::Response(ResponseType::Content);
    p.header.message_id = 4242;
    p.set_token(token.to_vec());
    p.set_observe_value(7);
    p.payload = b"42".to_vec();
    p.to_bytes().unwrap()
}

/// A node restarting restores its observations before it reads the socket: a notification that
/// arrived meanwhile waits in the socket buffer and is delivered, not answered with RST (which
/// would end the observation on the device for good).
#[tokio::test]
async fn a_held_driver_leaves_datagrams_until_opened() {
    let socket = bind("127.0.0.1:0".parse().unwrap(), 1 << 16).unwrap();
    let server = socket.local_addr().unwrap();
    let mut started = start_held(socket, Config::default(), 16, CancellationToken::new()).unwrap();
    let device = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let token = b"tok-1234".to_vec();
    device.send_to(&notification(&token), server).await.unwrap();
    // Long enough for a driver that reads at once to have answered it.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let restored = started
        .handle
        .restore_observation(device.local_addr().unwrap(), token)
        .await;
    assert!(restored.is_some());
    started.handle.open().await;
    let observed = tokio::time::timeout(Duration::from_secs(2), started.observed.recv())
        .await
        .expect("the notification is delivered")
        .expect("driver running");
    let Observed::Notification {
        request, sequence, ..
    } = observed
    else {
        panic!("not a notification")
    };
    assert_eq!(Some(request), restored);
    assert_eq!(sequence, Some(7));
    // And the device got no RST.
    let mut buf = [0u8; 64];
    let reset = tokio::time::timeout(Duration::from_millis(200), device.recv_from(&mut buf)).await;
    assert!(reset.is_err(), "the device was sent {reset:?}");
}
