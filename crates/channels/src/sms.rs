//! SMS gateways. The use case records every message in the database in its own transaction
//! (the `sms_messages` table) and then asks the gateway to deliver it. The sandbox gateway
//! delivers nothing: that record is its inbox, readable at `GET /api/v1/sandbox/sms`.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::gateway::{self, PlainHttp};

#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    #[error("the SMS gateway did not answer: {0}")]
    Unreachable(String),
    #[error("the SMS gateway refused the message: HTTP {0}")]
    Refused(u16),
    #[error("{0}")]
    Url(String),
}

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<(), SmsError>> + Send + 'a>>;

pub trait SmsGateway: Send + Sync {
    /// The gateway's name, recorded with each message (`sandbox`, `http`).
    fn name(&self) -> &'static str;
    fn send<'a>(&'a self, phone: &'a str, text: &'a str) -> SendFuture<'a>;
}

/// Delivers nothing; the message record is what a tester reads.
pub struct SandboxSms;

impl SmsGateway for SandboxSms {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn send<'a>(&'a self, _phone: &'a str, _text: &'a str) -> SendFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}

/// A provider behind an HTTP endpoint: `POST url` with `{"phone","text"}` and an optional
/// bearer token. A 2xx answer means accepted.
pub struct HttpSms {
    client: reqwest::Client,
    url: String,
    token: Option<String>,
}

impl HttpSms {
    pub fn new(url: String, token: Option<String>, plain_http: PlainHttp) -> Result<HttpSms, SmsError> {
        gateway::check("the SMS gateway", &url, plain_http).map_err(|e| SmsError::Url(e.to_string()))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| SmsError::Unreachable(e.to_string()))?;
        Ok(HttpSms { client, url, token })
    }
}

impl SmsGateway for HttpSms {
    fn name(&self) -> &'static str {
        "http"
    }

    fn send<'a>(&'a self, phone: &'a str, text: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let mut request = self.client.post(&self.url).json(&serde_json::json!({"phone": phone, "text": text}));
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.map_err(|e| SmsError::Unreachable(e.to_string()))?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(SmsError::Refused(response.status().as_u16()))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot HTTP server that answers with `status` and hands back what it received.
    async fn provider(status: u16) -> (String, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/sms", listener.local_addr().unwrap());
        let handle = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let mut got = Vec::new();
            while !String::from_utf8_lossy(&got).contains("}") {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            socket.write_all(reply.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&got).into_owned()
        });
        (url, handle)
    }

    #[tokio::test]
    async fn the_http_gateway_posts_json_with_its_token() {
        let (url, received) = provider(200).await;
        let gateway = HttpSms::new(url, Some("t0k".into()), PlainHttp::LoopbackOnly).unwrap();
        gateway.send("13800000001", "验证码 123456").await.unwrap();
        let request = received.await.unwrap();
        assert!(request.starts_with("POST /sms"), "{request}");
        assert!(request.to_ascii_lowercase().contains("authorization: bearer t0k"), "{request}");
        assert!(request.contains(r#""phone":"13800000001""#), "{request}");
    }

    #[tokio::test]
    async fn a_refusal_or_silence_is_an_error() {
        let (url, _received) = provider(503).await;
        let err = HttpSms::new(url, None, PlainHttp::LoopbackOnly).unwrap().send("13800000001", "x").await.unwrap_err();
        assert!(matches!(err, SmsError::Refused(503)), "{err}");
        let err = HttpSms::new("http://127.0.0.1:1/sms".into(), None, PlainHttp::LoopbackOnly)
            .unwrap()
            .send("1", "x")
            .await
            .unwrap_err();
        assert!(matches!(err, SmsError::Unreachable(_)), "{err}");
    }
}
