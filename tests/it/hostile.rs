//! Hostile requesters written from the standard, not from our code: the
//! PDUs are encoded here from PS3.8 §9.3 (and the one command set from
//! PS3.7 §9.3.5), byte by byte. An A-ASSOCIATE-RQ with each of its length
//! fields lying by −1 and by +1, a P-DATA-TF with each of its lying, a
//! P-DATA-TF over the negotiated maximum, PDUs out of order for the
//! association's state (PS3.8 §9.2, tables 9-9 and 9-10), and a requester
//! that sends one byte at a time. Each ends with the SCP answering by the
//! standard or closing, never holding the connection, and serving echoscu
//! meanwhile and after.

use std::net::SocketAddr;
use std::time::Duration;

use integration_tests::scp::TestScp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The SCP's ARTIM and idle timers: a connection waiting for bytes that
/// never come is closed after this.
const TIMER: Duration = Duration::from_secs(2);
/// How long a test waits for the SCP to close a connection.
const PATIENCE: Duration = Duration::from_secs(10);
/// The maximum PDU length the SCP announces.
const MAX_PDU: u32 = 16384;

async fn scp() -> TestScp {
    TestScp::echo(|c| {
        c.artim_timeout = TIMER;
        c.idle_timeout = TIMER;
        c.max_pdu_length = MAX_PDU;
    })
    .await
}

/// A length field: where it is, how wide, in which byte order.
#[derive(Debug, Clone, Copy)]
struct Field {
    at: usize,
    width: usize,
    little_endian: bool,
    what: &'static str,
}

/// A PDU being written, knowing where each of its length fields is.
#[derive(Debug, Default, Clone)]
struct Encoder {
    bytes: Vec<u8>,
    open: Vec<Field>,
    fields: Vec<Field>,
}

impl Encoder {
    fn put(&mut self, bytes: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(bytes);
        self
    }

    /// Starts a PDU (type, reserved byte, 4-byte length: PS3.8 §9.3.1) or
    /// an item or sub-item (type, reserved byte, 2-byte length).
    fn open(&mut self, kind: u8, width: usize, what: &'static str) -> &mut Self {
        self.put(&[kind, 0]);
        self.length(width, false, what)
    }

    /// A length field to be filled by [`Encoder::close`].
    fn length(&mut self, width: usize, little_endian: bool, what: &'static str) -> &mut Self {
        let field = Field {
            at: self.bytes.len(),
            width,
            little_endian,
            what,
        };
        self.bytes.resize(self.bytes.len() + width, 0);
        self.open.push(field);
        self.fields.push(field);
        self
    }

    /// Fills the innermost open length with what was written since.
    fn close(&mut self) -> &mut Self {
        let field = self.open.pop().expect("an open length");
        let len = (self.bytes.len() - field.at - field.width) as u32;
        set(&mut self.bytes, field, len);
        self
    }

    fn item(&mut self, kind: u8, what: &'static str, content: &[u8]) -> &mut Self {
        self.open(kind, 2, what).put(content).close()
    }

    /// An implicit VR little endian element of the command set (PS3.5
    /// §7.1.3): tag, 4-byte length, value.
    fn element(&mut self, element: u16, what: &'static str, value: &[u8]) -> &mut Self {
        self.put(&0u16.to_le_bytes()).put(&element.to_le_bytes());
        self.length(4, true, what).put(value).close()
    }

    /// Copies `other` in, with its fields.
    fn nest(&mut self, other: &Encoder) -> &mut Self {
        let base = self.bytes.len();
        self.fields.extend(other.fields.iter().map(|f| Field {
            at: f.at + base,
            ..*f
        }));
        self.put(&other.bytes)
    }

    /// The bytes with `field` changed by `delta`.
    fn lying(&self, field: Field, delta: i64) -> Vec<u8> {
        let mut bytes = self.bytes.clone();
        let value = get(&bytes, field);
        set(&mut bytes, field, (i64::from(value) + delta) as u32);
        bytes
    }

    /// One requester per length field and lie (-1, +1), all at once, each
    /// sending the PDU with that lie (after an accepted association when
    /// `associated`); each ends with the field, the lie and what came back.
    fn send_every_lie(
        &self,
        addr: SocketAddr,
        associated: bool,
    ) -> Vec<tokio::task::JoinHandle<(&'static str, i64, Vec<u8>)>> {
        let mut cases = Vec::new();
        for field in self.fields.clone() {
            for delta in [-1, 1] {
                let bytes = self.lying(field, delta);
                cases.push(tokio::spawn(async move {
                    let mut requester = if associated {
                        Requester::associate(addr).await
                    } else {
                        Requester::connect(addr).await
                    };
                    requester.send(&bytes).await;
                    (field.what, delta, requester.rest().await)
                }));
            }
        }
        cases
    }
}

fn get(bytes: &[u8], f: Field) -> u32 {
    let b = &bytes[f.at..f.at + f.width];
    match (f.width, f.little_endian) {
        (2, false) => u32::from(u16::from_be_bytes([b[0], b[1]])),
        (2, true) => u32::from(u16::from_le_bytes([b[0], b[1]])),
        (_, false) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
        (_, true) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
    }
}

fn set(bytes: &mut [u8], f: Field, value: u32) {
    let b = &mut bytes[f.at..f.at + f.width];
    match (f.width, f.little_endian) {
        (2, false) => b.copy_from_slice(&(value as u16).to_be_bytes()),
        (2, true) => b.copy_from_slice(&(value as u16).to_le_bytes()),
        (_, false) => b.copy_from_slice(&value.to_be_bytes()),
        (_, true) => b.copy_from_slice(&value.to_le_bytes()),
    }
}

/// An AE title field: 16 bytes, padded with spaces.
fn ae(title: &str) -> [u8; 16] {
    let mut field = [b' '; 16];
    field[..title.len()].copy_from_slice(title.as_bytes());
    field
}

/// A-ASSOCIATE-RQ (PS3.8 §9.3.2) from ENS-SCU to ENS-SCP: Verification in
/// Implicit VR Little Endian on context 1, a maximum length of 16384.
fn associate_rq() -> Encoder {
    let mut e = Encoder::default();
    e.open(0x01, 4, "the A-ASSOCIATE-RQ's PDU length");
    // Protocol version 1, reserved, called and calling AE titles, reserved.
    e.put(&[0, 1, 0, 0]).put(&ae("ENS-SCP")).put(&ae("ENS-SCU"));
    e.put(&[0; 32]);
    e.item(
        0x10,
        "the application context item's",
        b"1.2.840.10008.3.1.1.1",
    );
    e.open(0x20, 2, "the presentation context item's")
        .put(&[1, 0, 0, 0]);
    e.item(0x30, "the abstract syntax sub-item's", b"1.2.840.10008.1.1");
    e.item(0x40, "the transfer syntax sub-item's", b"1.2.840.10008.1.2");
    e.close();
    e.open(0x50, 2, "the user information item's");
    e.item(
        0x51,
        "the maximum length sub-item's",
        &16384u32.to_be_bytes(),
    );
    e.item(
        0x52,
        "the implementation class UID sub-item's",
        b"1.2.3.4.5.6",
    );
    e.close();
    e.close();
    e
}

/// C-ECHO-RQ's command set (PS3.7 §9.3.5), message ID 1.
fn echo_command() -> Encoder {
    let mut body = Encoder::default();
    body.element(0x0002, "Affected SOP Class UID's", b"1.2.840.10008.1.1\0");
    body.element(0x0100, "Command Field's", &0x0030u16.to_le_bytes());
    body.element(0x0110, "Message ID's", &1u16.to_le_bytes());
    body.element(0x0800, "Command Data Set Type's", &0x0101u16.to_le_bytes());
    let mut e = Encoder::default();
    let group_length = (body.bytes.len() as u32).to_le_bytes();
    e.element(0x0000, "Command Group Length's", &group_length);
    e.nest(&body);
    e
}

/// P-DATA-TF (PS3.8 §9.3.5) with one PDV on context 1 holding `command`
/// whole (message control header 03H: command, last fragment).
fn p_data(command: &Encoder) -> Encoder {
    let mut e = Encoder::default();
    e.open(0x04, 4, "the P-DATA-TF's PDU length");
    e.length(4, false, "the PDV item's").put(&[1, 0x03]);
    e.nest(command);
    e.close();
    e.close();
    e
}

/// A-RELEASE-RQ (PS3.8 §9.3.6).
const RELEASE_RQ: [u8; 10] = [0x05, 0, 0, 0, 0, 4, 0, 0, 0, 0];

/// The PDU types in `bytes`, read as a sequence of whole PDUs.
fn pdu_types(bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 6 {
        types.push(rest[0]);
        let len = u32::from_be_bytes([rest[2], rest[3], rest[4], rest[5]]) as usize;
        rest = rest.get(6 + len..).unwrap_or_default();
    }
    types
}

/// A connection to the SCP.
struct Requester(TcpStream);

impl Requester {
    async fn connect(addr: SocketAddr) -> Self {
        Self(TcpStream::connect(addr).await.expect("connect"))
    }

    async fn send(&mut self, bytes: &[u8]) {
        // The SCP may have closed already; what it answered tells.
        let _sent = self.0.write_all(bytes).await;
    }

    /// One whole PDU, or `None` when the connection closes first.
    async fn read_pdu(&mut self) -> Option<Vec<u8>> {
        let mut header = [0u8; 6];
        let read = tokio::time::timeout(PATIENCE, self.0.read_exact(&mut header)).await;
        read.expect("the SCP answers or closes in time").ok()?;
        let len = u32::from_be_bytes([header[2], header[3], header[4], header[5]]) as usize;
        let mut pdu = header.to_vec();
        pdu.resize(6 + len, 0);
        let body = tokio::time::timeout(PATIENCE, self.0.read_exact(&mut pdu[6..])).await;
        body.expect("the SCP sends a whole PDU in time").ok()?;
        Some(pdu)
    }

    /// Everything the SCP sends until it closes the connection.
    ///
    /// # Panics
    /// When it still holds the connection after [`PATIENCE`].
    async fn rest(&mut self) -> Vec<u8> {
        let mut answer = Vec::new();
        let read = tokio::time::timeout(PATIENCE, self.0.read_to_end(&mut answer)).await;
        assert!(
            read.is_ok(),
            "the SCP still holds the connection after {PATIENCE:?}"
        );
        answer
    }

    /// An association as the standard has it: RQ, then AC.
    async fn associate(addr: SocketAddr) -> Self {
        let mut requester = Self::connect(addr).await;
        requester.send(&associate_rq().bytes).await;
        let ac = requester.read_pdu().await.expect("an answer");
        assert_eq!(ac[0], 0x02, "A-ASSOCIATE-AC: {ac:?}");
        requester
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_association_request_whose_lengths_lie_by_one_is_aborted_or_closed() {
    let scp = scp().await;
    let rq = associate_rq();
    // The well-formed request is accepted, so that each lie is the cause.
    let mut honest = Requester::associate(scp.addr).await;
    honest.send(&RELEASE_RQ).await;
    assert_eq!(pdu_types(&honest.rest().await), [0x06], "A-RELEASE-RP");

    let cases = rq.send_every_lie(scp.addr, false);
    scp.assert_echo_works().await;
    let mut wrong = Vec::new();
    for case in cases {
        let (what, delta, answer) = case.await.expect("a lying requester");
        let answer = pdu_types(&answer);
        // An A-ABORT for a request that does not add up. Two exceptions:
        // a request promising a byte more is closed without a word when the
        // ARTIM timer runs out (PS3.8 §9.2, AA-2); the maximum length
        // sub-item's length is fixed at 4 (PS3.8 §D.1), so its 4 bytes are
        // read whatever the field says, the rest of the request is whole,
        // and the association is accepted (then idles out: A-ABORT).
        let expected: &[u8] = match (what, delta) {
            ("the A-ASSOCIATE-RQ's PDU length", 1) => &[],
            ("the maximum length sub-item's", _) => &[0x02, 0x07],
            _ => &[0x07],
        };
        if answer != expected {
            wrong.push(format!(
                "{what} length {delta:+}: PDU types {answer:02X?}, expected {expected:02X?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    scp.assert_echo_works().await;
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_p_data_whose_lengths_lie_by_one_is_aborted() {
    let scp = scp().await;
    let pdu = p_data(&echo_command());
    // Told the truth, the C-ECHO is answered with Success.
    let mut honest = Requester::associate(scp.addr).await;
    honest.send(&pdu.bytes).await;
    let rsp = honest.read_pdu().await.expect("a C-ECHO-RSP");
    assert_eq!(rsp[0], 0x04, "{rsp:?}");
    honest.send(&RELEASE_RQ).await;
    assert_eq!(pdu_types(&honest.rest().await), [0x06], "A-RELEASE-RP");

    let cases = pdu.send_every_lie(scp.addr, true);
    scp.assert_echo_works().await;
    for case in cases {
        let (what, delta, answer) = case.await.expect("a lying requester");
        let types = pdu_types(&answer);
        // Each length frames what follows, so each lie ends the
        // association with an A-ABORT: at once when the PDVs or the
        // command set do not add up, from the idle timer when the PDU
        // promised a byte that never comes.
        assert_eq!(
            types,
            [0x07],
            "{what} length {delta:+}: the SCP answered PDU types {types:02X?}"
        );
    }
    scp.assert_echo_works().await;
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_p_data_over_the_negotiated_maximum_is_aborted() {
    let scp = scp().await;
    let mut requester = Requester::associate(scp.addr).await;
    // One PDV of data bytes filling a PDU one byte longer than announced.
    let data = vec![0u8; MAX_PDU as usize - 6 + 1];
    let mut e = Encoder::default();
    e.open(0x04, 4, "PDU length").length(4, false, "PDV");
    e.put(&[1, 0x02]).put(&data).close().close();
    assert_eq!(e.bytes.len() - 6, MAX_PDU as usize + 1);
    requester.send(&e.bytes).await;
    assert_eq!(pdu_types(&requester.rest().await), [0x07], "A-ABORT");
    scp.assert_echo_works().await;
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pdus_out_of_order_are_aborted() {
    let scp = scp().await;
    let ac = {
        let mut e = Encoder::default();
        e.open(0x02, 4, "").put(&[0, 1, 0, 0]).put(&ae("ENS-SCP"));
        e.put(&ae("ENS-SCU")).put(&[0; 32]).close();
        e.bytes
    };
    let rj = [0x03, 0, 0, 0, 0, 4, 0, 1, 1, 1].to_vec();
    let release_rp = [0x06, 0, 0, 0, 0, 4, 0, 0, 0, 0].to_vec();
    let unknown = [0x08, 0, 0, 0, 0, 4, 0, 0, 0, 0].to_vec();
    let p_data = p_data(&echo_command()).bytes;
    // Before the A-ASSOCIATE-RQ (Sta2): AC, RJ, P-DATA, release, unknown →
    // A-ABORT (AA-1); an A-ABORT just closes (AA-2).
    for (name, pdu) in [
        ("A-ASSOCIATE-AC", &ac),
        ("A-ASSOCIATE-RJ", &rj),
        ("P-DATA-TF", &p_data),
        ("A-RELEASE-RQ", &RELEASE_RQ.to_vec()),
        ("A-RELEASE-RP", &release_rp),
        ("PDU type 08H", &unknown),
    ] {
        let mut requester = Requester::connect(scp.addr).await;
        requester.send(pdu).await;
        let answer = pdu_types(&requester.rest().await);
        assert_eq!(answer, [0x07], "{name} first: {answer:02X?}");
    }
    let mut requester = Requester::connect(scp.addr).await;
    requester.send(&[0x07, 0, 0, 0, 0, 4, 0, 0, 0, 0]).await;
    let answer = pdu_types(&requester.rest().await);
    assert!(answer.is_empty(), "A-ABORT first: {answer:02X?}");
    // Once associated (Sta6): a second RQ, an AC, an RJ, a release answer
    // nobody asked for, an unknown type → A-ABORT (AA-8).
    for (name, pdu) in [
        ("A-ASSOCIATE-RQ", &associate_rq().bytes),
        ("A-ASSOCIATE-AC", &ac),
        ("A-ASSOCIATE-RJ", &rj),
        ("A-RELEASE-RP", &release_rp),
        ("PDU type 08H", &unknown),
    ] {
        let mut requester = Requester::associate(scp.addr).await;
        requester.send(pdu).await;
        let answer = pdu_types(&requester.rest().await);
        assert_eq!(answer, [0x07], "{name} once associated: {answer:02X?}");
    }
    scp.assert_echo_works().await;
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_requester_sending_one_byte_at_a_time_is_served_while_others_are() {
    let scp = scp().await;
    let addr = scp.addr;
    let slow = tokio::spawn(async move {
        let mut requester = Requester::connect(addr).await;
        let trickle = async |requester: &mut Requester, bytes: &[u8]| {
            for byte in bytes {
                requester.send(&[*byte]).await;
                tokio::time::sleep(Duration::from_millis(4)).await;
            }
        };
        trickle(&mut requester, &associate_rq().bytes).await;
        let ac = requester.read_pdu().await.expect("an answer");
        assert_eq!(ac[0], 0x02, "A-ASSOCIATE-AC: {ac:?}");
        trickle(&mut requester, &p_data(&echo_command()).bytes).await;
        let rsp = requester.read_pdu().await.expect("a C-ECHO-RSP");
        // PDU header, PDV header, then the command set: Status (0000,0900) 0.
        let status = rsp.windows(10).any(|w| w == [0, 0, 0, 9, 2, 0, 0, 0, 0, 0]);
        assert!(rsp[0] == 0x04 && status, "C-ECHO-RSP with Success: {rsp:?}");
        trickle(&mut requester, &RELEASE_RQ).await;
        assert_eq!(pdu_types(&requester.rest().await), [0x06], "A-RELEASE-RP");
    });
    for _ in 0..3 {
        scp.assert_echo_works().await;
    }
    slow.await.expect("the slow requester");
    scp.stop().await;
}
