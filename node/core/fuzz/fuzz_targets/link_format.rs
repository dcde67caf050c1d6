#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lwm2m_core::fuzzing::link_format(data));
