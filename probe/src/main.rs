//! `pvm-probe http://127.0.0.1:8080/ready [max-secs]`: exit 0 if the URL
//! answers 2xx within the time, 1 otherwise (with the reason on stderr).
//! Used as the HEALTHCHECK of images that have no shell or curl. Plain HTTP
//! to a loopback or LAN address only; std only, so it stays a few hundred KB.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

fn probe(url: &str, timeout: Duration) -> Result<u16, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs are probed"))?;
    let (host_port, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = host_port
        .to_socket_addrs()
        .map_err(|e| format!("{host_port}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host_port}: no address"))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("{addr}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|_| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    // One write: `write!` on a bare TcpStream sends each piece separately.
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host_port}\r\nConnection: close\r\nUser-Agent: pvm-probe\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("sending: {e}"))?;
    let mut head = [0u8; 64];
    let n = stream
        .read(&mut head)
        .map_err(|e| format!("reading: {e}"))?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("not an HTTP answer: {line:?}"))
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(url) = args.next() else {
        eprintln!("usage: pvm-probe http://HOST:PORT/PATH [timeout-secs]");
        return ExitCode::from(2);
    };
    let secs = args.next().and_then(|s| s.parse().ok()).unwrap_or(3);
    match probe(&url, Duration::from_secs(secs)) {
        Ok(code) if (200..300).contains(&code) => ExitCode::SUCCESS,
        Ok(code) => {
            eprintln!("{url}: HTTP {code}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn serve_once(answer: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                // The whole request head, as a real server reads it, then the answer.
                let mut got = Vec::new();
                let mut buf = [0u8; 512];
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s.write_all(answer.as_bytes());
            }
        });
        format!("http://{addr}/ready")
    }

    #[test]
    fn a_2xx_answer_is_healthy_and_others_are_not() {
        let ok = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        assert_eq!(probe(&ok, Duration::from_secs(2)), Ok(200));
        let busy = serve_once("HTTP/1.1 503 Service Unavailable\r\n\r\n");
        assert_eq!(probe(&busy, Duration::from_secs(2)), Ok(503));
        let garbage = serve_once("hello");
        assert!(probe(&garbage, Duration::from_secs(2)).is_err());
    }

    #[test]
    fn nothing_listening_or_a_bad_url_is_an_error_naming_it() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let err = probe(&format!("http://{addr}/"), Duration::from_secs(1)).expect_err("down");
        assert!(err.contains(&addr.to_string()), "{err}");
        assert!(probe("https://x/", Duration::from_secs(1))
            .expect_err("https")
            .contains("only http://"));
    }
}
