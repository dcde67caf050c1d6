//! LwM2M server logic over CoAP packets: the registration interface and device-management
//! operations, as pure functions from packets to values and back.

pub mod composite;
pub mod manage;
pub mod options;
pub mod read;
pub mod registration;
pub mod report;
