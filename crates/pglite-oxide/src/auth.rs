//! Password authentication: the server's side of SCRAM-SHA-256 (RFC 5802
//! with the SHA-256 of RFC 7677), as PostgreSQL runs it.
//!
//! The server keeps a [`Verifier`] made from the password once, at start
//! (a random salt, 4096 iterations: PostgreSQL's defaults), never the
//! password itself. Each connection then runs one [`Exchange`]: the
//! client's first message is answered with the server's (salt, iterations
//! and a nonce of the client's and the server's), the client's final
//! message carries its proof of knowing the password, and the server's
//! final message proves the server knows the verifier.
//!
//! As in PostgreSQL, without TLS there is no channel binding: clients that
//! send the gs2 flag `n` (no channel binding) or `y` (the client could, but
//! thinks the server cannot) are answered, `p` (channel binding requested)
//! is refused. The user name in the SCRAM messages is ignored (the one from
//! the startup packet counts), and so are authorization identities, which
//! are refused.
//!
//! Random bytes (salts and nonces) come from the operating system
//! (`getrandom`).

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The one SASL mechanism offered.
pub(crate) const MECHANISM: &str = "SCRAM-SHA-256";
/// PBKDF2 iterations (PostgreSQL's default `scram_iterations`).
const ITERATIONS: u32 = 4096;
/// Salt bytes (PostgreSQL's `SCRAM_DEFAULT_SALT_LEN`).
const SALT_LEN: usize = 16;
/// Random bytes in the server's part of a nonce (PostgreSQL's
/// `SCRAM_RAW_NONCE_LEN`); 24 characters once base64-encoded.
const NONCE_LEN: usize = 18;

type HmacSha256 = Hmac<Sha256>;
type Key = [u8; 32];

/// What the server keeps of a password: the salt, the iteration count and
/// the two keys derived from the salted password.
#[derive(Clone)]
pub(crate) struct Verifier {
    salt: Vec<u8>,
    iterations: u32,
    stored_key: Key,
    server_key: Key,
}

impl Verifier {
    /// A verifier of `password` with a fresh random salt.
    pub fn new(password: &str) -> Result<Self, String> {
        let mut salt = vec![0; SALT_LEN];
        getrandom::fill(&mut salt).map_err(|e| format!("no random bytes for a salt: {e}"))?;
        Ok(Self::with_salt(password, &salt, ITERATIONS))
    }

    /// A verifier of `password` with this salt and iteration count.
    fn with_salt(password: &str, salt: &[u8], iterations: u32) -> Self {
        // SASLprep (RFC 4013) as PostgreSQL and its clients apply it: a
        // password it rejects is used as it is.
        let prepared = stringprep::saslprep(password);
        let password = match &prepared {
            Ok(prepared) => prepared.as_bytes(),
            Err(_) => password.as_bytes(),
        };
        let salted = salted_password(password, salt, iterations);
        let client_key = hmac(&salted, b"Client Key");
        Self {
            salt: salt.to_vec(),
            iterations,
            stored_key: Sha256::digest(client_key).into(),
            server_key: hmac(&salted, b"Server Key"),
        }
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Verifier { .. }")
    }
}

/// Why an exchange failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The client's proof is wrong: the wrong password (28P01).
    WrongPassword,
    /// The client broke the protocol (08P01).
    Protocol(String),
    /// The server could not go on (no random bytes).
    Internal(String),
}

fn malformed(detail: impl Into<String>) -> Failure {
    Failure::Protocol(format!("malformed SCRAM message: {}", detail.into()))
}

/// One client's authentication, between its first message and its last.
pub(crate) struct Exchange<'a> {
    verifier: &'a Verifier,
    /// The gs2 header the client sent, which its final message must repeat.
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    /// The client's nonce followed by the server's.
    nonce: String,
}

impl<'a> Exchange<'a> {
    /// Reads the client-first-message; returns the exchange and the
    /// server-first-message to send.
    pub fn start(verifier: &'a Verifier, client_first: &[u8]) -> Result<(Self, String), Failure> {
        let mut random = [0; NONCE_LEN];
        getrandom::fill(&mut random)
            .map_err(|e| Failure::Internal(format!("no random bytes for a nonce: {e}")))?;
        Self::start_with_nonce(verifier, client_first, &BASE64.encode(random))
    }

    fn start_with_nonce(
        verifier: &'a Verifier,
        client_first: &[u8],
        server_nonce: &str,
    ) -> Result<(Self, String), Failure> {
        let text = std::str::from_utf8(client_first)
            .map_err(|_| malformed("the client's first message is not UTF-8"))?;
        // gs2-header: channel binding flag, authorization identity.
        let (flag, rest) = text
            .split_once(',')
            .ok_or_else(|| malformed("no gs2 header"))?;
        match flag {
            "n" | "y" => {}
            _ if flag.starts_with("p=") => {
                return Err(Failure::Protocol(
                    "the client requested channel binding, which this server does not offer \
                     (no TLS)"
                        .into(),
                ))
            }
            _ => {
                return Err(malformed(format!(
                    "unexpected channel binding flag {flag:?}"
                )))
            }
        }
        let (authzid, bare) = rest
            .split_once(',')
            .ok_or_else(|| malformed("no gs2 header"))?;
        if !authzid.is_empty() {
            return Err(Failure::Protocol(
                "client uses authorization identity, but it is not supported".into(),
            ));
        }
        let gs2_header = format!("{flag},,");

        // client-first-message-bare: n=user,r=nonce[,extensions]
        let mut attributes = bare.split(',');
        let user = attributes.next().unwrap_or_default();
        if user.starts_with("m=") {
            return Err(Failure::Protocol("unsupported SCRAM extension (m=)".into()));
        }
        if !user.starts_with("n=") {
            return Err(malformed("expected the user name attribute (n=)"));
        }
        let client_nonce = attributes
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or_else(|| malformed("expected the nonce attribute (r=)"))?;
        if client_nonce.is_empty() || !client_nonce.bytes().all(is_nonce_char) {
            return Err(malformed("the client's nonce is empty or not printable"));
        }
        // Extensions that may follow are ignored, as PostgreSQL does.

        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&verifier.salt),
            verifier.iterations
        );
        let exchange = Self {
            verifier,
            gs2_header,
            client_first_bare: bare.to_owned(),
            server_first: server_first.clone(),
            nonce,
        };
        Ok((exchange, server_first))
    }

    /// Checks the client-final-message; returns the server-final-message
    /// to send when the client proved it knows the password.
    pub fn finish(self, client_final: &[u8]) -> Result<String, Failure> {
        let text = std::str::from_utf8(client_final)
            .map_err(|_| malformed("the client's final message is not UTF-8"))?;
        // The proof is the last attribute; what comes before it is signed.
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or_else(|| malformed("expected the proof attribute (p=) last"))?;
        let mut attributes = without_proof.split(',');
        let binding = attributes
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or_else(|| malformed("expected the channel binding attribute (c=)"))?;
        let binding = BASE64
            .decode(binding)
            .map_err(|_| malformed("channel binding data is not base64"))?;
        if binding != self.gs2_header.as_bytes() {
            return Err(Failure::Protocol(
                "SCRAM channel binding check failed: the final message does not repeat the \
                 gs2 header"
                    .into(),
            ));
        }
        let nonce = attributes
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or_else(|| malformed("expected the nonce attribute (r=)"))?;
        if nonce != self.nonce {
            return Err(Failure::Protocol("SCRAM nonce mismatch".into()));
        }
        let proof: Key = BASE64
            .decode(proof)
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or_else(|| malformed("the proof is not 32 base64-encoded bytes"))?;

        let auth_message = format!(
            "{},{},{without_proof}",
            self.client_first_bare, self.server_first
        );
        let client_signature = hmac(&self.verifier.stored_key, auth_message.as_bytes());
        let client_key = xor(&proof, &client_signature);
        let stored_key: Key = Sha256::digest(client_key).into();
        if !same(&stored_key, &self.verifier.stored_key) {
            return Err(Failure::WrongPassword);
        }
        let server_signature = hmac(&self.verifier.server_key, auth_message.as_bytes());
        Ok(format!("v={}", BASE64.encode(server_signature)))
    }
}

/// RFC 5802's `Hi`: PBKDF2 with HMAC-SHA-256, one output block.
fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> Key {
    let keyed = HmacSha256::new_from_slice(password).expect("HMAC takes keys of any length");
    let mut mac = keyed.clone();
    mac.update(salt);
    mac.update(&1u32.to_be_bytes());
    let mut u: Key = mac.finalize().into_bytes().into();
    let mut result = u;
    for _ in 1..iterations {
        let mut mac = keyed.clone();
        mac.update(&u);
        u = mac.finalize().into_bytes().into();
        result = xor(&result, &u);
    }
    result
}

fn hmac(key: &[u8], message: &[u8]) -> Key {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

fn xor(a: &Key, b: &Key) -> Key {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// Equality that takes the same time wherever the keys differ.
fn same(a: &Key, b: &Key) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// RFC 5802's `printable` (a nonce's characters): ASCII 0x21-0x7e but ','.
fn is_nonce_char(byte: u8) -> bool {
    (0x21..=0x7e).contains(&byte) && byte != b','
}

#[cfg(test)]
mod tests {
    use super::*;
    use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};

    /// The exchange of RFC 7677, section 3: user "user", password "pencil".
    #[test]
    fn the_rfc_7677_example() {
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let verifier = Verifier::with_salt("pencil", &salt, 4096);
        let (exchange, server_first) = Exchange::start_with_nonce(
            &verifier,
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        )
        .unwrap();
        assert_eq!(
            server_first,
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let server_final = exchange
            .finish(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                  p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            )
            .unwrap();
        assert_eq!(
            server_final,
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    /// A full exchange with tokio-postgres's client side; `Ok` when both
    /// sides are satisfied.
    fn with_client(
        verifier: &Verifier,
        password: &str,
        binding: ChannelBinding,
    ) -> Result<(), Failure> {
        let mut client = ScramSha256::new(password.as_bytes(), binding);
        let (exchange, server_first) = Exchange::start(verifier, client.message())?;
        client.update(server_first.as_bytes()).unwrap();
        let server_final = exchange.finish(client.message())?;
        client
            .finish(server_final.as_bytes())
            .expect("the client accepts the server's signature");
        Ok(())
    }

    #[test]
    fn a_real_client_with_the_right_password_gets_in_and_verifies_the_server() {
        let verifier = Verifier::new("s3cret").unwrap();
        assert_eq!(
            with_client(&verifier, "s3cret", ChannelBinding::unrequested()),
            Ok(())
        );
        assert_eq!(
            with_client(&verifier, "s3cret", ChannelBinding::unsupported()),
            Ok(())
        );
        // SASLprep: a non-breaking space is a space; non-ASCII is fine.
        let verifier = Verifier::new("pass word ünïcødé").unwrap();
        assert_eq!(
            with_client(
                &verifier,
                "pass\u{a0}word ünïcødé",
                ChannelBinding::unrequested()
            ),
            Ok(())
        );
    }

    #[test]
    fn a_wrong_password_is_refused() {
        let verifier = Verifier::new("s3cret").unwrap();
        assert_eq!(
            with_client(&verifier, "s3cre", ChannelBinding::unrequested()),
            Err(Failure::WrongPassword)
        );
        assert_eq!(
            with_client(&verifier, "", ChannelBinding::unrequested()),
            Err(Failure::WrongPassword)
        );
    }

    #[test]
    fn salts_and_nonces_differ_every_time() {
        let a = Verifier::new("pw").unwrap();
        let b = Verifier::new("pw").unwrap();
        assert_ne!(a.salt, b.salt);
        assert_ne!(a.stored_key, b.stored_key);
        let (_, first) = Exchange::start(&a, b"n,,n=,r=abc").unwrap();
        let (_, second) = Exchange::start(&a, b"n,,n=,r=abc").unwrap();
        assert_ne!(first, second);
        assert!(first.starts_with("r=abc"), "{first}");
        assert_eq!(first.split(',').next().unwrap().len(), "r=abc".len() + 24);
    }

    #[test]
    fn protocol_violations_are_named() {
        let verifier = Verifier::with_salt("pw", b"salt", 1);
        let protocol = |message: &[u8]| match Exchange::start(&verifier, message) {
            Err(Failure::Protocol(why)) => why,
            Err(other) => panic!("{other:?}"),
            Ok((_, first)) => panic!("accepted: {first}"),
        };
        assert!(protocol(b"p=tls-server-end-point,,n=,r=abc").contains("channel binding"));
        assert!(protocol(b"n,a=admin,n=,r=abc").contains("authorization identity"));
        assert!(protocol(b"x,,n=,r=abc").contains("channel binding flag"));
        assert!(protocol(b"n,,m=ext,n=,r=abc").contains("extension"));
        assert!(protocol(b"n,,r=abc").contains("user name"));
        assert!(protocol(b"n,,n=,r=").contains("nonce"));
        assert!(protocol(b"n,,n=").contains("nonce"));
        assert!(protocol(b"nonsense").contains("gs2"));
        assert!(protocol(&[b'n', b',', b',', 0xff]).contains("UTF-8"));

        let final_failure = |client_first: &[u8], client_final: &str| {
            let (exchange, _) =
                Exchange::start_with_nonce(&verifier, client_first, "SERVER").unwrap();
            exchange.finish(client_final.as_bytes()).unwrap_err()
        };
        let proof = BASE64.encode([0u8; 32]);
        // "y,," must be repeated as "y,,", not as "n,,".
        let err = final_failure(b"y,,n=,r=abc", &format!("c=biws,r=abcSERVER,p={proof}"));
        assert!(matches!(err, Failure::Protocol(why) if why.contains("gs2 header")));
        let err = final_failure(b"n,,n=,r=abc", &format!("c=biws,r=abcOTHER,p={proof}"));
        assert_eq!(err, Failure::Protocol("SCRAM nonce mismatch".into()));
        let err = final_failure(b"n,,n=,r=abc", "c=biws,r=abcSERVER,p=c2hvcnQ=");
        assert!(matches!(err, Failure::Protocol(why) if why.contains("32")));
        let err = final_failure(b"n,,n=,r=abc", "c=biws,r=abcSERVER");
        assert!(matches!(err, Failure::Protocol(why) if why.contains("p=")));
        // Well formed, wrong proof.
        let err = final_failure(b"n,,n=,r=abc", &format!("c=biws,r=abcSERVER,p={proof}"));
        assert_eq!(err, Failure::WrongPassword);
    }
}
