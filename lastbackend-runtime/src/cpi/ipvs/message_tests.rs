//! Encodings checked byte for byte against a manual encoding from
//! `linux/ip_vs.h` (x86-64, little-endian host order): every attribute is
//! `len:u16 type:u16 value`, padded to 4 bytes; nested command attributes
//! carry `NLA_F_NESTED` (0x8000), which the kernel's parser accepts as
//! ipvsadm's unflagged nests.

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_generic::GenlMessage;

use super::*;

fn service() -> Service {
    Service {
        protocol: 6,
        addr: Ipv4Addr::new(10, 96, 0, 1),
        port: 80,
    }
}

/// The service key: AF_INET, TCP, 10.96.0.1 as a 16-byte union, port 80
/// big-endian.
const KEY: [u8; 44] = [
    0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, // AF = 2, padded
    0x06, 0x00, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, // PROTOCOL = 6, padded
    0x14, 0x00, 0x03, 0x00, 0x0a, 0x60, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, // ADDR
    0x06, 0x00, 0x04, 0x00, 0x00, 0x50, 0x00, 0x00, // PORT = 80 (be16), padded
];

fn emit(message: &IpvsMessage) -> Vec<u8> {
    let mut buf = vec![0; message.buffer_len()];
    message.emit(&mut buf);
    buf
}

#[test]
fn new_service_as_a_whole_netlink_message() {
    let mut genl = GenlMessage::from_payload(service().add());
    genl.set_resolved_family_id(0x1d);
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_ACK;
    header.sequence_number = 7;
    let mut message = NetlinkMessage::new(header, NetlinkPayload::from(genl));
    message.finalize();
    let mut got = vec![0; message.buffer_len()];
    message.serialize(&mut got);

    let mut want = vec![
        0x68, 0x00, 0x00, 0x00, // nlmsg_len = 104
        0x1d, 0x00, // nlmsg_type = the resolved family id
        0x05, 0x00, // NLM_F_REQUEST | NLM_F_ACK
        0x07, 0x00, 0x00, 0x00, // seq
        0x00, 0x00, 0x00, 0x00, // pid
        0x01, 0x01, 0x00, 0x00, // IPVS_CMD_NEW_SERVICE, version 1, reserved
        0x54, 0x00, 0x01, 0x80, // IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED, 84 bytes
    ];
    want.extend_from_slice(&KEY);
    want.extend_from_slice(&[
        0x07, 0x00, 0x06, 0x00, b'r', b'r', 0x00, 0x00, // SCHED_NAME "rr\0", padded
        0x0c, 0x00, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, // FLAGS {flags 0, mask 0}
        0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, // TIMEOUT 0
        0x08, 0x00, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff, // NETMASK
    ]);
    assert_eq!(got, want);
}

#[test]
fn delete_service_names_only_the_key() {
    let mut want = vec![0x30, 0x00, 0x01, 0x80];
    want.extend_from_slice(&KEY);
    assert_eq!(emit(&service().delete()), want);
    assert_eq!(service().delete().command as u8, 3);
}

#[test]
fn new_dest_nests_the_service_then_the_destination() {
    let message = service().add_dest(Ipv4Addr::new(10, 244, 1, 7), 8080, 1);
    assert_eq!(message.command as u8, 5);
    let mut want = vec![0x30, 0x00, 0x01, 0x80];
    want.extend_from_slice(&KEY);
    want.extend_from_slice(&[
        0x48, 0x00, 0x02, 0x80, // IPVS_CMD_ATTR_DEST | NLA_F_NESTED, 72 bytes
        0x14, 0x00, 0x01, 0x00, 0x0a, 0xf4, 0x01, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, // ADDR
        0x06, 0x00, 0x02, 0x00, 0x1f, 0x90, 0x00, 0x00, // PORT 8080 (be16)
        0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, // FWD_METHOD = MASQ
        0x08, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, // WEIGHT 1
        0x08, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, // U_THRESH
        0x08, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, // L_THRESH
        0x06, 0x00, 0x0b, 0x00, 0x02, 0x00, 0x00, 0x00, // ADDR_FAMILY = AF_INET
    ]);
    assert_eq!(emit(&message), want);
}

#[test]
fn delete_dest_and_dumps() {
    let message = service().delete_dest(Ipv4Addr::new(10, 244, 1, 7), 8080);
    assert_eq!(message.command as u8, 7);
    let bytes = emit(&message);
    assert_eq!(&bytes[48..52], &[0x20, 0x00, 0x02, 0x80]);
    assert_eq!(bytes.len(), 48 + 32);
    assert_eq!(emit(&get_services()), Vec::<u8>::new());
    assert_eq!(get_services().command as u8, 4);
    assert_eq!(service().get_dests().command as u8, 8);
}

#[test]
fn replies_parse_back() {
    let header = GenlHeader { cmd: 5, version: 1 };
    let sent = service().add_dest(Ipv4Addr::new(10, 244, 1, 7), 8080, 1);
    let parsed = IpvsMessage::parse_with_param(&emit(&sent), header).unwrap();
    assert_eq!(parsed, sent);
    assert_eq!(Service::from_reply(&parsed), Some(service()));
    assert_eq!(dest_of(&parsed), Some((Ipv4Addr::new(10, 244, 1, 7), 8080)));
}
