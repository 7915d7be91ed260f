//! Many associations at once: 50 concurrent associations, 10 echoes each,
//! from DCMTK echoscu processes and from our SCU.

use integration_tests::dcmtk::echoscu;
use integration_tests::scp::TestScp;
use integration_tests::uids::{IMPLICIT, VERIFICATION};
use switchboard::dimse::scu::{ScuOptions, connect};
use switchboard::dimse::status::Status;

/// An SCP answering C-ECHO from ENS-SCU, with room for 100 associations.
async fn scp() -> TestScp {
    TestScp::echo(|c| c.max_associations = 100).await
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_associations_times_ten_echoes() {
    let scp = scp().await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let address = scp.addr.to_string();
        tasks.push(tokio::spawn(async move {
            let options =
                ScuOptions::new("ENS-SCU", "ENS-SCP").with_context(VERIFICATION, &[IMPLICIT]);
            let mut association = connect(&address, &options).await.expect("associate");
            for _ in 0..10 {
                assert_eq!(association.echo().await.expect("echo"), Status::SUCCESS);
            }
            association.release().await.expect("release");
        }));
    }
    for task in tasks {
        task.await.expect("association task");
    }
    scp.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_echoscu_processes_times_ten_echoes() {
    let scp = scp().await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let port = scp.addr.port();
        tasks.push(tokio::spawn(async move {
            echoscu("ENS-SCU", "ENS-SCP", port, &["--repeat", "10"]).await
        }));
    }
    for task in tasks {
        let out = task.await.expect("echoscu task");
        assert!(out.ok, "{out}");
    }
    scp.stop().await;
}
