//! Requests reqwest would refuse to send: raw bytes on a TCP socket, and a 100 MB chunked body.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::faults::support::{LOCATION, SECRET};

/// Sends raw bytes on a new connection and returns the response's status code (0 when the
/// connection closed without a status line).
pub async fn raw_status(addr: &str, request: &[u8]) -> u16 {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(request).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while !got.windows(2).any(|w| w == b"\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    status_of(&got)
}

fn status_of(response: &[u8]) -> u16 {
    String::from_utf8_lossy(response)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Streams up to 100 MB as a chunked body while watching for the response; returns the status
/// and how many body bytes the socket took before the server answered and stopped reading.
pub async fn stream_huge_body(addr: &str) -> (u16, usize) {
    const TOTAL: usize = 100 * 1024 * 1024;
    let socket = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = socket.into_split();
    let head = format!(
        "POST /notifications/{LOCATION} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SECRET}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    wr.write_all(head.as_bytes()).await.unwrap();
    let writer = tokio::spawn(async move {
        let chunk = vec![b' '; 64 * 1024];
        let framed = [
            format!("{:x}\r\n", chunk.len()).into_bytes(),
            chunk,
            b"\r\n".to_vec(),
        ]
        .concat();
        let mut sent = 0usize;
        while sent < TOTAL {
            if wr.write_all(&framed).await.is_err() {
                break;
            }
            sent += 64 * 1024;
        }
        sent
    });
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    let status = loop {
        match tokio::time::timeout(Duration::from_secs(20), rd.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) | Err(_) => break status_of(&got),
            Ok(Ok(n)) => {
                got.extend_from_slice(&buf[..n]);
                if got.windows(2).any(|w| w == b"\r\n") {
                    break status_of(&got);
                }
            }
        }
    };
    drop(rd);
    // Once the server has answered and closed, the writer fails within the socket buffers.
    let sent = tokio::time::timeout(Duration::from_secs(20), writer)
        .await
        .expect("the writer stops once the server has closed")
        .unwrap();
    (status, sent)
}
