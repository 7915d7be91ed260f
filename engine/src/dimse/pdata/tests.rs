use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};

use super::*;
use crate::dimse::commands::{CEchoRq, DimseCommand};

#[test]
fn encode_pdata_matches_the_codec() {
    let mut ours = Vec::new();
    encode_pdata(&mut ours, 3, true, true, b"abcdef");
    let mut theirs = Vec::new();
    dicom_ul::pdu::write_pdu(
        &mut theirs,
        &Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: 3,
                value_type: PDataValueType::Command,
                is_last: true,
                data: b"abcdef".to_vec(),
            }],
        },
    )
    .unwrap();
    assert_eq!(ours, theirs);
}

async fn collect_pdus(bytes_len: usize, peer_max: u32) -> Vec<Pdu> {
    let (client, server) = tokio::io::duplex(1 << 22);
    let mut tx = PduStream::new(client);
    tx.set_limits(16384, peer_max);
    let data: Vec<u8> = (0..bytes_len).map(|i| i as u8).collect();
    let sent = send_data_from(&mut tx, 5, &data[..]).await.unwrap();
    assert_eq!(sent, bytes_len as u64);
    drop(tx);
    let (pdus, joined) = read_back(server, peer_max, 5).await;
    assert_eq!(joined, data);
    pdus
}

/// Reads every PDU until the stream closes: each must be P-DATA with one
/// PDV on `pc_id`, only the last one flagged last. Returns them and their
/// data joined.
async fn read_back(
    server: tokio::io::DuplexStream,
    peer_max: u32,
    pc_id: u8,
) -> (Vec<Pdu>, Vec<u8>) {
    let mut rx = PduStream::new(server);
    rx.set_limits(peer_max, 0);
    let mut pdus = Vec::new();
    while let Ok(pdu) = rx.read_pdu().await {
        pdus.push(pdu);
    }
    let mut joined = Vec::new();
    for (i, pdu) in pdus.iter().enumerate() {
        let Pdu::PData { data } = pdu else { panic!() };
        assert_eq!(data.len(), 1);
        assert_eq!(data[0].is_last, i == pdus.len() - 1);
        assert_eq!(data[0].presentation_context_id, pc_id);
        joined.extend_from_slice(&data[0].data);
    }
    (pdus, joined)
}

/// Sends `len` bytes at `offset` of a file through `send_data_from_file` and
/// reads the PDUs back.
async fn file_pdus(
    file_len: usize,
    offset: usize,
    len: usize,
    peer_max: u32,
) -> (Result<u64, SendFileError>, Vec<Pdu>, Vec<u8>) {
    let contents: Vec<u8> = (0..file_len).map(|i| (i * 7) as u8).collect();
    let mut file = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut file, &contents).unwrap();
    let (client, server) = tokio::io::duplex(1 << 22);
    let mut tx = PduStream::new(client);
    tx.set_limits(16384, peer_max);
    let file = std::sync::Arc::new(file);
    let sent =
        send_data_from_file(&mut tx, 3, file, offset as u64, len as u64, &mut Vec::new()).await;
    drop(tx);
    let (pdus, joined) = read_back(server, peer_max, 3).await;
    let expected = contents[offset.min(file_len)..(offset + len).min(file_len)].to_vec();
    if sent.is_ok() {
        assert_eq!(joined, expected);
    }
    (sent, pdus, joined)
}

#[tokio::test]
async fn a_file_range_is_sent_in_pdus_of_the_peer_maximum() {
    let fragment = 16384 - 6;
    let chunk = (STREAM_CHUNK / fragment) * fragment;
    for (file_len, offset, len) in [
        (1000, 0, 1000),
        (1000, 132, 0),
        (700_000, 132, 600_000),
        (chunk + 10, 10, chunk),
        (3 * chunk, 0, 2 * chunk + 1),
    ] {
        let (sent, pdus, _) = file_pdus(file_len, offset, len, 16384).await;
        assert_eq!(sent.unwrap(), len as u64);
        assert_eq!(pdus.len(), len.div_ceil(fragment).max(1), "{len} bytes");
    }
    // A peer maximum larger than the chunk: one PDU per write.
    let (sent, pdus, _) = file_pdus(3_000_000, 0, 3_000_000, 1 << 20).await;
    assert_eq!(sent.unwrap(), 3_000_000);
    assert_eq!(pdus.len(), 3);
}

#[tokio::test]
async fn a_body_file_shorter_than_recorded_is_an_error() {
    let (sent, _, _) = file_pdus(1000, 0, 5000, 16384).await;
    let Err(SendFileError::File(error)) = sent else {
        panic!("{sent:?}");
    };
    assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof, "{error}");
}

#[tokio::test]
async fn fragments_honour_the_peer_maximum() {
    // Every PDU fits in 1024 bytes (the reader enforces it).
    assert_eq!(collect_pdus(5000, 1024).await.len(), 5);
    // An exact multiple of the fragment size still ends with a last flag.
    assert_eq!(collect_pdus(1018 * 3, 1024).await.len(), 3);
    assert_eq!(collect_pdus(0, 1024).await.len(), 1);
    assert_eq!(collect_pdus(10, 1024).await.len(), 1);
    // Several PDUs per write: around and across the write chunks.
    let fragment = 16384 - 6;
    let chunk = (256 * 1024 / fragment) * fragment;
    for n in [chunk - 1, chunk, chunk + 1, 2 * chunk, 600_000] {
        assert_eq!(
            collect_pdus(n, 16384).await.len(),
            n.div_ceil(fragment),
            "{n} bytes"
        );
    }
}

#[test]
fn reassembly_of_fragmented_commands_and_data() {
    let cmd = DimseCommand::EchoRq(CEchoRq::new(1)).to_bytes().unwrap();
    let mut r = Reassembler::new();
    fn pdv(value_type: PDataValueType, is_last: bool, data: &[u8]) -> PdvRef<'_> {
        PdvRef {
            presentation_context_id: 1,
            value_type,
            is_last,
            data,
        }
    }
    assert!(
        r.push(pdv(PDataValueType::Command, false, &cmd[..10]))
            .unwrap()
            .is_none()
    );
    assert!(r.in_progress());
    let event = r
        .push(pdv(PDataValueType::Command, true, &cmd[10..]))
        .unwrap();
    assert!(matches!(
        event,
        Some(PdvEvent::Command {
            presentation_context_id: 1,
            ..
        })
    ));
    assert!(!r.in_progress());
    // Data without a command announcing it.
    assert!(matches!(
        r.push(pdv(PDataValueType::Data, true, b"x")),
        Err(PdvError::UnexpectedData { .. })
    ));
    // A command interleaved on another context.
    let mut r = Reassembler::new();
    r.push(pdv(PDataValueType::Command, false, &cmd[..4]))
        .unwrap();
    let mut other = pdv(PDataValueType::Command, true, &cmd[4..]);
    other.presentation_context_id = 3;
    assert!(matches!(
        r.push(other),
        Err(PdvError::InterleavedCommand { .. })
    ));
    // Garbage command bytes are an error.
    let mut r = Reassembler::new();
    assert!(
        r.push(pdv(PDataValueType::Command, true, &[1, 2, 3]))
            .is_err()
    );
}

#[test]
fn fragment_size() {
    assert_eq!(max_fragment_len(16384), 16378);
    assert_eq!(max_fragment_len(3), 1);
}

/// A file just written is read without waiting (no hand-off to the
/// blocking pool); one whose pages left the cache is not, and the blocking
/// read then gets the same bytes. On tmpfs, which has no such reads (and
/// keeps its pages), everything is read on the blocking pool: not tested.
#[test]
fn cached_bytes_are_read_at_once_and_uncached_ones_are_left_to_the_blocking_read() {
    let Some((_dir, file, bytes)) = synced_file(300_000) else {
        return;
    };
    // Two slots with a gap, as PDU headers leave between payloads.
    let slots = [(6, 100_000), (100_012, 150_000)];
    let expect = |buf: &[u8]| {
        assert!(buf[6..100_006] == bytes[1000..101_000]);
        assert!(buf[100_012..250_012] == bytes[101_000..251_000]);
    };
    let mut buf = vec![0u8; 250_012];
    let mut pending = slots.to_vec();
    assert_eq!(
        read_cached(&file, 1000, &mut buf, &mut pending).unwrap(),
        250_000
    );
    assert!(pending.is_empty());
    expect(&buf);
    // Past the end: an error, not a fall-back.
    let mut past = vec![0u8; 250_012];
    let error = read_cached(&file, 290_000, &mut past, &mut slots.to_vec()).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof);

    // Clean pages dropped from the cache: not read without waiting, and
    // the blocking read gets the same bytes.
    drop_cached(&file, 0);
    let mut buf = vec![0u8; 250_012];
    let mut pending = slots.to_vec();
    assert_eq!(read_cached(&file, 1000, &mut buf, &mut pending).unwrap(), 0);
    read_into_slots(&file, 1000, &mut buf, &mut pending).unwrap();
    assert!(pending.is_empty());
    expect(&buf);
}

/// A read without waiting stops where the page cache does, saying how far
/// it got and what is left; the blocking read goes on from there.
#[test]
fn a_read_partly_in_the_page_cache_goes_on_where_the_cache_ends() {
    let Some((_dir, file, bytes)) = synced_file(4_194_304) else {
        return;
    };
    // Pages from 2 MiB on (a whole large folio) leave the cache.
    drop_cached(&file, 2_097_152);
    let slots = [(6, 1_000_000), (1_000_012, 2_000_000)];
    let mut buf = vec![0u8; 3_000_012];
    let mut pending = slots.to_vec();
    let cached = read_cached(&file, 1000, &mut buf, &mut pending).unwrap();
    // Usually about 2 MiB; all of it when the readahead the first short
    // read started completes before the next read (a busy machine).
    let left: usize = pending.iter().map(|s| s.1).sum();
    assert_eq!(cached as usize + left, 3_000_000, "{pending:?} left");
    read_into_slots(&file, 1000 + cached, &mut buf, &mut pending).unwrap();
    assert!(pending.is_empty());
    assert!(buf[6..1_000_006] == bytes[1000..1_001_000]);
    assert!(buf[1_000_012..3_000_012] == bytes[1_001_000..3_001_000]);
}

/// A file of `len` bytes, written and synced (its pages clean, in the
/// cache), opened to read, with its bytes; `None` on tmpfs.
fn synced_file(len: u32) -> Option<(tempfile::TempDir, std::fs::File, Vec<u8>)> {
    use std::io::Write;
    let dir = crate::store::private_tempdir();
    let path = dir.path().join("body");
    let bytes: Vec<u8> = (0..len).map(|n| (n % 251) as u8).collect();
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(&bytes).unwrap();
    file.sync_all().unwrap();
    let file = std::fs::File::open(&path).unwrap();
    (!on_tmpfs(&file)).then_some((dir, file, bytes))
}

/// Whether the file is on tmpfs, which keeps its pages and has no reads
/// without waiting.
fn on_tmpfs(file: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: `stat` is a plain struct the call fills; the descriptor is open.
    #[allow(unsafe_code)]
    unsafe {
        let mut stat: libc::statfs = std::mem::zeroed();
        libc::fstatfs(file.as_raw_fd(), &raw mut stat) == 0 && stat.f_type == libc::TMPFS_MAGIC
    }
}

/// Drops a file's clean pages from `from` on out of the page cache.
fn drop_cached(file: &std::fs::File, from: i64) {
    use std::os::fd::AsRawFd;
    // SAFETY: advice on an open descriptor; no memory is passed.
    #[allow(unsafe_code)]
    let dropped =
        unsafe { libc::posix_fadvise(file.as_raw_fd(), from, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(dropped, 0);
}
