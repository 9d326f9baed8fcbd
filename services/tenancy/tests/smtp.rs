//! The SMTP mailer against a minimal SMTP server (the mail provider is an
//! outside party): what it delivers, and how refusals are classified so a
//! permanent one is dead-lettered and a temporary one retried.

use aerostic_tenancy::mail::{Email, MailError, Mailer};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// An SMTP server answering `rcpt_reply` to RCPT TO; each accepted message's
/// DATA goes to the channel.
async fn smtp_server(rcpt_reply: &'static str) -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 fake ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(body) = data.as_mut() {
                        if line == "." {
                            let _ = tx.send(data.take().unwrap());
                            write.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            body.push_str(&line);
                            body.push('\n');
                        }
                        continue;
                    }
                    let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                    let reply: &str = match verb.as_str() {
                        "EHLO" | "HELO" => "250 fake\r\n",
                        "RCPT" => rcpt_reply,
                        "DATA" => {
                            data = Some(String::new());
                            "354 go ahead\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => "250 ok\r\n",
                    };
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (format!("smtp://{addr}"), rx)
}

fn email(to: &str) -> Email<'_> {
    Email {
        to,
        subject: "Reset your password".into(),
        text: "open https://app.example.com/reset-password?token=pr_x\n".into(),
    }
}

#[tokio::test]
async fn an_accepted_email_reaches_the_smtp_server_whole() {
    let (url, mut inbox) = smtp_server("250 ok\r\n").await;
    let mailer = Mailer::from_url(&url).unwrap();
    mailer
        .send("Aerostic <no-reply@example.com>", email("bea@example.com"))
        .await
        .unwrap();
    let data = inbox.recv().await.unwrap();
    assert!(data.contains("To: bea@example.com"), "{data}");
    assert!(data.contains("Subject: Reset your password"), "{data}");
    assert!(data.contains("reset-password"), "{data}");
}

#[tokio::test]
async fn a_refused_recipient_is_permanent_and_a_busy_server_is_transient() {
    let (url, _) = smtp_server("550 no such mailbox\r\n").await;
    let refused = Mailer::from_url(&url)
        .unwrap()
        .send("no-reply@example.com", email("gone@example.com"))
        .await;
    assert!(
        matches!(refused, Err(MailError::Rejected(_))),
        "{refused:?}"
    );

    let (url, _) = smtp_server("451 try again later\r\n").await;
    let busy = Mailer::from_url(&url)
        .unwrap()
        .send("no-reply@example.com", email("bea@example.com"))
        .await;
    assert!(matches!(busy, Err(MailError::Transient(_))), "{busy:?}");

    let closed = Mailer::from_url("smtp://127.0.0.1:1")
        .unwrap()
        .send("no-reply@example.com", email("bea@example.com"))
        .await;
    assert!(matches!(closed, Err(MailError::Transient(_))), "{closed:?}");
}

#[tokio::test]
async fn unusable_settings_are_named() {
    assert!(matches!(
        Mailer::from_url("smtp://"),
        Err(MailError::Config(_))
    ));
    let dir = std::env::temp_dir().join(format!("aerostic-mail-unit-{}", std::process::id()));
    let mailer = Mailer::from_url(&format!("file://{}", dir.display())).unwrap();
    let bad_from = mailer
        .send("not an address", email("bea@example.com"))
        .await;
    assert!(
        matches!(bad_from, Err(MailError::Config(_))),
        "{bad_from:?}"
    );
    let bad_to = mailer.send("no-reply@example.com", email("nobody")).await;
    assert!(matches!(bad_to, Err(MailError::Message(_))), "{bad_to:?}");
}
