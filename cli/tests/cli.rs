//! The built `tokenkeep` binary, run as a user or a script would.

use aws_lc_rs::encoding::{AsBigEndian as _, AsDer as _};
use aws_lc_rs::rsa;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokenkeep_core::{KeySet, Policy, UnixTime, verify};
use tokenkeep_dev_issuer::SigningKey;

const BIN: &str = env!("CARGO_BIN_EXE_tokenkeep");

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env_remove("NO_COLOR").stdin(Stdio::null()).output().unwrap()
}

/// The command started with every stream piped.
fn spawn_piped(args: &[&str]) -> Child {
    Command::new(BIN).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

fn run_stdin(args: &[&str], input: &str) -> Output {
    let mut child = spawn_piped(args);
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally")
}

fn now() -> UnixTime {
    UnixTime::from_millis(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64)
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// A key file of every supported kind, with the algorithm `mint` should pick.
fn key_files(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let rsa = rsa::KeyPair::generate(rsa::KeySize::Rsa2048).unwrap();
    let rsa_der = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&rsa).unwrap();
    let p256 = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let p384 = EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
    let sec1 = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let sec1_der = sec1.private_key().as_der().unwrap();
    let ed = Ed25519KeyPair::generate().unwrap();
    vec![
        (write(dir, "rsa.pem", &pem("PRIVATE KEY", rsa_der.as_ref())), "RS256"),
        (write(dir, "p256.pem", &pem("PRIVATE KEY", p256.to_pkcs8v1().unwrap().as_ref())), "ES256"),
        (write(dir, "p384.pem", &pem("PRIVATE KEY", p384.to_pkcs8v1().unwrap().as_ref())), "ES384"),
        (write(dir, "sec1.pem", &pem("EC PRIVATE KEY", sec1_der.as_ref())), "ES256"),
        (write(dir, "ed25519.pem", &pem("PRIVATE KEY", ed.to_pkcs8v1().unwrap().as_ref())), "EdDSA"),
    ]
}

/// The public JWK of a PEM key file, with the `alg` and `kid` a token used.
fn public_keys(key_file: &Path, token: &str) -> KeySet {
    let header = tokenkeep_core::decode_unverified(token).unwrap().header;
    let alg = tokenkeep_core::Algorithm::from_name(header["alg"].as_str().unwrap()).unwrap();
    let kid = header.get("kid").and_then(Value::as_str).map(str::to_owned);
    let key = SigningKey::from_pem(&std::fs::read(key_file).unwrap()).unwrap().with_alg(alg).unwrap().with_kid(kid);
    KeySet::from_jwks_value(&json!({"keys": [key.public_jwk().unwrap()]})).unwrap()
}

fn inspect_json(token: &str) -> Value {
    let o = run(&["inspect", "--json", token]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap()
}

#[test]
fn help_version_and_usage_errors() {
    assert_eq!(code(&run(&["--help"])), 0);
    let o = run(&["--version"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).starts_with("tokenkeep "));
    assert_eq!(code(&run(&[])), 2, "no subcommand");
    assert_eq!(code(&run(&["frobnicate"])), 2, "unknown subcommand");
    assert_eq!(code(&run(&["inspect"])), 2, "missing TOKEN");
    assert_eq!(code(&run(&["inspect", "--bogus", "x"])), 2);
    assert_eq!(code(&run(&["mint"])), 2, "missing --key");
    assert_eq!(code(&run(&["mint", "--key", "k", "--ttl", "soon"])), 2, "bad duration");
    assert_eq!(code(&run(&["dev-issuer", "--port", "99999"])), 2);
}

#[test]
fn inspect_rejects_garbage_with_exit_2() {
    for garbage in ["garbage", "a.b", "a.b.c", "e30.e30.x.y.z", "!!!.e30.sig"] {
        let o = run(&["inspect", garbage]);
        assert_eq!(code(&o), 2, "{garbage}");
        assert!(stderr(&o).contains("not a JWT"), "{garbage}: {}", stderr(&o));
        assert!(o.stdout.is_empty());
    }
    let o = run(&["inspect", "--json", "a.b"]);
    assert_eq!(code(&o), 2);
    let err: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(err["error"]["code"], "not_compact_jws");
    // A non-object claims part.
    let token = format!("{}.{}.sig", URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256"}"#), URL_SAFE_NO_PAD.encode(b"[1]"));
    let o = run(&["inspect", "--json", &token]);
    assert_eq!(code(&o), 2);
    assert_eq!(serde_json::from_str::<Value>(&stdout(&o)).unwrap()["error"]["code"], "bad_json");
    assert_eq!(code(&run_stdin(&["inspect", "-"], "  \n")), 2, "empty stdin");
}

#[test]
fn inspect_json_schema_and_human_banner() {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#);
    let n = now().as_secs();
    let claims =
        json!({"sub": "alice", "aud": ["api", "web"], "iat": n - 3 * 3600, "nbf": n - 3 * 3600, "exp": n - 2 * 86_400});
    let token = format!("{header}.{}.c2ln", URL_SAFE_NO_PAD.encode(claims.to_string()));

    let v = inspect_json(&token);
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), 3, "{v}");
    assert_eq!(v["verified"], false);
    assert_eq!(v["header"], json!({"alg": "RS256", "kid": "k1", "typ": "JWT"}));
    assert_eq!(v["claims"], claims);

    let o = run(&["inspect", &token]);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    assert!(out.lines().next().unwrap().contains("NOT VERIFIED"), "{out}");
    assert!(!out.contains('\x1b'), "no colour when stdout is not a terminal");
    for expected in ["alice", "k1", "UTC", "3h ago", "2d ago", "expired"] {
        assert!(out.contains(expected), "missing {expected}: {out}");
    }

    // From stdin, with surrounding whitespace.
    let o = run_stdin(&["inspect", "--json", "-"], &format!("\n{token}\n"));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(serde_json::from_str::<Value>(&stdout(&o)).unwrap()["claims"]["sub"], "alice");
}

#[test]
fn mint_with_every_key_type_round_trips_through_inspect_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    for (file, alg) in key_files(dir.path()) {
        let claims = r#"{"iss":"https://issuer.test","sub":"svc","aud":"api"}"#;
        let o = run(&["mint", "--key", file.to_str().unwrap(), "--claims", claims]);
        assert_eq!(code(&o), 0, "{alg}: {}", stderr(&o));
        let token = stdout(&o).trim().to_owned();
        assert_eq!(token.split('.').count(), 3);

        let v = inspect_json(&token);
        assert_eq!(v["header"]["alg"], alg, "{}", file.display());
        assert_eq!(v["claims"]["sub"], "svc");
        let (iat, exp) = (v["claims"]["iat"].as_u64().unwrap(), v["claims"]["exp"].as_u64().unwrap());
        assert_eq!(exp - iat, 300, "default ttl 5m");
        assert!(v["header"]["kid"].as_str().is_some_and(|k| k.len() == 43), "thumbprint kid");

        let keys = public_keys(&file, &token);
        let policy = Policy::new("https://issuer.test").with_audience("api");
        let verified = verify(&token, &keys, &policy, now()).unwrap_or_else(|e| panic!("{alg}: {e:?}"));
        assert_eq!(verified.header.alg.name(), alg);
    }
}

#[test]
fn mint_options_alg_ttl_kid_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let files = key_files(dir.path());
    let rsa = files[0].0.to_str().unwrap();
    let o = run(&[
        "mint",
        "--key",
        rsa,
        "--alg",
        "PS512",
        "--ttl",
        "1h",
        "--kid",
        "mine",
        "--json",
        "--claims",
        r#"{"iss":"i"}"#,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["alg"], "PS512");
    assert_eq!(v["kid"], "mine");
    let token = v["token"].as_str().unwrap();
    let claims = &inspect_json(token)["claims"];
    assert_eq!(claims["exp"], v["expires_at"]);
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 3600);
    verify(token, &public_keys(&files[0].0, token), &Policy::new("i"), now()).unwrap();

    // Explicit claims win over the computed ones.
    let o = run(&["mint", "--key", rsa, "--claims", r#"{"exp": 1, "iat": 0}"#]);
    let claims = &inspect_json(stdout(&o).trim())["claims"];
    assert_eq!((claims["iat"].as_u64(), claims["exp"].as_u64()), (Some(0), Some(1)));

    // Usage and configuration errors.
    let p256 = files[1].0.to_str().unwrap();
    for args in [
        vec!["mint", "--key", rsa, "--alg", "ES256"],
        vec!["mint", "--key", p256, "--alg", "ES384"],
        vec!["mint", "--key", p256, "--alg", "none"],
        vec!["mint", "--key", p256, "--claims", "[1]"],
        vec!["mint", "--key", p256, "--claims", "{nope"],
        vec!["mint", "--key", "/nonexistent/key.pem"],
    ] {
        let o = run(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stdout(&o));
        assert!(stderr(&o).starts_with("error:"), "{args:?}");
    }
    let junk = write(dir.path(), "junk.pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    assert_eq!(code(&run(&["mint", "--key", junk.to_str().unwrap()])), 2);
}

#[test]
fn mint_with_private_jwks() {
    let dir = tempfile::tempdir().unwrap();
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);

    // EC P-256 private JWK.
    let kp = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let d = kp.private_key().as_be_bytes().unwrap();
    let point = kp.public_key().as_ref();
    let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "ec-jwk", "d": b64(d.as_ref()), "x": b64(&point[1..33]), "y": b64(&point[33..])});
    let file = write(dir.path(), "ec.jwk", &jwk.to_string());
    let o = run(&["mint", "--key", file.to_str().unwrap(), "--claims", r#"{"iss":"i"}"#]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let token = stdout(&o).trim().to_owned();
    assert_eq!(inspect_json(&token)["header"]["kid"], "ec-jwk");
    let mut public = jwk.clone();
    public.as_object_mut().unwrap().remove("d");
    let keys = KeySet::from_jwks_value(&json!({"keys": [public]})).unwrap();
    verify(&token, &keys, &Policy::new("i"), now()).unwrap();

    // Ed25519 private JWK inside a one-key JWKS.
    let ed = Ed25519KeyPair::generate().unwrap();
    let seed = ed.seed().unwrap().as_be_bytes().unwrap();
    let x = b64(ed.public_key().as_ref());
    let jwks = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "d": b64(seed.as_ref()), "x": x}]});
    let file = write(dir.path(), "ed.jwks", &jwks.to_string());
    let o = run(&["mint", "--key", file.to_str().unwrap(), "--claims", r#"{"iss":"i"}"#]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let token = stdout(&o).trim().to_owned();
    let kid = inspect_json(&token)["header"]["kid"].clone();
    assert_eq!(kid.as_str().map(str::len), Some(43), "thumbprint kid");
    let keys =
        KeySet::from_jwks_value(&json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid}]})).unwrap();
    verify(&token, &keys, &Policy::new("i"), now()).unwrap();

    // HMAC secret JWK.
    let secret = [7u8; 32];
    let file =
        write(dir.path(), "oct.jwk", &json!({"kty": "oct", "k": b64(&secret), "alg": "HS256", "kid": "h"}).to_string());
    let o = run(&["mint", "--key", file.to_str().unwrap(), "--claims", r#"{"iss":"i"}"#]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let token = stdout(&o).trim().to_owned();
    assert_eq!(inspect_json(&token)["header"]["alg"], "HS256");
    let keys = KeySet::empty().with_secret(Some("h"), tokenkeep_core::Algorithm::HS256, &secret).unwrap();
    let policy = Policy::new("i").with_algorithms(tokenkeep_core::AlgSet::only(tokenkeep_core::Algorithm::HS256));
    verify(&token, &keys, &policy, now()).unwrap();

    // A public JWK cannot sign; two keys are ambiguous.
    let file = write(dir.path(), "pub.jwk", &json!({"kty": "OKP", "crv": "Ed25519", "x": x}).to_string());
    assert_eq!(code(&run(&["mint", "--key", file.to_str().unwrap()])), 2);
    let file = write(dir.path(), "two.jwks", &json!({"keys": [jwk, jwk]}).to_string());
    assert_eq!(code(&run(&["mint", "--key", file.to_str().unwrap()])), 2);
}

/// A `tokenkeep dev-issuer` child, killed when dropped.
struct Issuer {
    child: Child,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Issuer {
    fn spawn(args: &[&str]) -> Issuer {
        let mut child = Command::new(BIN)
            .arg("dev-issuer")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Issuer { child, stdout }
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "dev-issuer closed stdout");
        line
    }

    /// SIGTERM, then the exit status (killed after 10 s).
    fn terminate(mut self) -> Option<i32> {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Issuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.1 request over loopback; returns (status, body).
fn http(url: &str, method: &str, body: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = TcpStream::connect(authority).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

#[test]
fn dev_issuer_prints_urls_and_serves_jwks() {
    let mut issuer = Issuer::spawn(&["--json", "--alg", "ES256", "--alg", "EdDSA"]);
    let info: Value = serde_json::from_str(&issuer.line()).unwrap();
    let iss = info["issuer"].as_str().unwrap().to_owned();
    assert!(iss.starts_with("http://127.0.0.1:"));
    assert_eq!(info["jwks_uri"], format!("{iss}/jwks"));
    assert_eq!(info["discovery"], format!("{iss}/.well-known/openid-configuration"));
    assert_eq!(info["ca_file"], Value::Null);

    let (status, body) = http(info["discovery"].as_str().unwrap(), "GET", "");
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["jwks_uri"], info["jwks_uri"]);
    let (status, minted) =
        http(info["token_endpoint"].as_str().unwrap(), "POST", r#"{"claims":{"sub":"me","aud":"api"},"alg":"EdDSA"}"#);
    assert_eq!(status, 200, "{minted}");
    let token = serde_json::from_str::<Value>(&minted).unwrap()["token"].as_str().unwrap().to_owned();
    let (status, jwks) = http(info["jwks_uri"].as_str().unwrap(), "GET", "");
    assert_eq!(status, 200);
    let keys = KeySet::from_jwks_json(jwks.as_bytes()).unwrap();
    assert_eq!(keys.len(), 2);
    let verified = verify(&token, &keys, &Policy::new(&iss).with_audience("api"), now()).unwrap();
    assert_eq!(verified.claims.subject(), Some("me"));

    assert_eq!(issuer.terminate(), Some(0), "SIGTERM stops it cleanly");
}

#[test]
fn dev_issuer_human_output_with_tls() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let bearer = write(dir.path(), "bearer", "t0ken");
    let mut issuer = Issuer::spawn(&[
        "--tls",
        "--ca-out",
        ca.to_str().unwrap(),
        "--require-bearer",
        bearer.to_str().unwrap(),
        "--jwks-max-age",
        "1m",
    ]);
    let mut text = String::new();
    while !text.contains("curl") {
        text.push_str(&issuer.line());
    }
    assert!(text.contains("https://127.0.0.1:"), "{text}");
    assert!(text.contains("/jwks") && text.contains("/.well-known/openid-configuration"), "{text}");
    assert!(text.contains(&format!("--cacert {}", ca.display())), "{text}");
    assert!(text.contains(r#"-d '{"claims":{"sub":"me","aud":"api"}}'"#), "{text}");
    assert!(!text.contains('\x1b'));
    assert!(std::fs::read_to_string(&ca).unwrap().contains("BEGIN CERTIFICATE"));
    assert_eq!(issuer.terminate(), Some(0));
}

// ----- hardening: output errors, hostile strings, bounded stdin, key rules ----------

/// A fixed 1024-bit RSA key (PKCS#8): below what verifiers accept.
const RSA_1024_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIICdgIBADANBgkqhkiG9w0BAQEFAASCAmAwggJcAgEAAoGBAMvgt4ehkIR3MXLr
15tOeSdsVO7f4o47ZEeHf6ClIUHVvkz8D5L4rCEmBle21hupEku++pGuWi/YtT96
IKAalPSv0CQN5iwHzoS1UJ5ZYxjcfWHK6BBpk8lhILJpTsqfMF1h5X8qM/Gct0il
RN2Go/I41KzkoKYO9rGlXmjuxVXLAgMBAAECgYAiKFAXZTY1O1MJkgHZf1hFBp1k
OBZZBhJS+ZykaYYc5ZawhzqEwSz1kM1XPMa6c6UhE6ofZjqt8XzMWcXFjS6PU6Dk
ueDwekKvsejAXhzEJbAZcCONDZee8NTqXHPeRy2Z5QjHys2/WrNOXLhFVenXEDpG
SgYL4gYEms24A27rYQJBAOq30XOZlx8BYK3bdoFZq3QBRdaWVJwHfgowGYxYdGKo
5SHmExLRH2XYto72QKNOoiV5jCP7R3PSFNrJ2bNoqP8CQQDeXQwgXm7I1R2UjOJM
TmMvfzUJL8JN87UuAHhgaFSsWe8AnIv/Albp3hRfFQXxD8+blA0pLuJhpnaJDqpA
JKc1AkBOHJJVuD10kg7MjQapEWBfoLTPLwRFULD/TvaRoDZLRw3J9DlQv8uFJ1PJ
y+XC8z4+3m5m4w7qWnWaQiZy8FedAkEAnOghl3GrUPH5NoqXYOrrWGe13+6geGsh
DP3t83GLVjb7zH2q194pwEsiKtnl4G2cvJajFs1rlyZkfGApyKtUhQJAGbbG3K7i
JvnAKccpsq3BnN4+NakP2i4haAFUgSapu3Jr1J35r9/zpB1Msuvj2V+ZQeM3NLPu
+ukuD0rs3FN5iw==
-----END PRIVATE KEY-----
";

/// Characters a terminal acts on: ESC (and an OSC title sequence), BEL, CR,
/// LF, the 8-bit CSI, DEL, RIGHT-TO-LEFT OVERRIDE, LINE SEPARATOR.
const HOSTILE: &str = "\u{1b}]0;owned\u{7}\u{1b}[2J\r\nFAKE LINE\u{9b}31m\u{7f}admin\u{202e}gpj.exe\u{2028}";

fn assert_terminal_safe(what: &str, text: &str) {
    for bad in ['\u{1b}', '\u{7}', '\r', '\u{9b}', '\u{7f}', '\u{202e}', '\u{2028}'] {
        assert!(!text.contains(bad), "{what}: raw {:?} in output:\n{text:?}", bad);
    }
    assert!(!text.contains("\nFAKE LINE"), "{what}: a faked line:\n{text}");
}

/// Runs with stdout going to `out`; stderr captured.
fn run_into(args: &[&str], out: Stdio) -> Output {
    Command::new(BIN).args(args).stdin(Stdio::null()).stdout(out).stderr(Stdio::piped()).output().unwrap()
}

/// A stdout whose reader is gone before the command starts (`| true` without the race).
fn closed_pipe() -> Stdio {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    drop(ours);
    Stdio::from(std::os::fd::OwnedFd::from(theirs))
}

fn full_disk() -> Stdio {
    Stdio::from(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap())
}

#[test]
fn output_errors_end_cleanly_never_with_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = key_files(dir.path()).remove(1);
    let key = key.to_str().unwrap().to_owned();
    let token = stdout(&run(&["mint", "--key", &key])).trim().to_owned();
    let jwks = write(
        dir.path(),
        "keys.json",
        &json!({"keys": (0..40).map(|i| json!({"kty": "oct", "kid": format!("k{i}")})).collect::<Vec<_>>()})
            .to_string(),
    );
    let jwks = jwks.to_str().unwrap();
    let commands: Vec<Vec<&str>> = vec![
        vec!["mint", "--key", &key],
        vec!["mint", "--key", &key, "--json"],
        vec!["inspect", &token],
        vec!["inspect", &token, "--json"],
        vec!["jwks", jwks, "--json"],
        vec!["jwks", jwks],
        vec!["--help"],
    ];
    for args in &commands {
        let o = run_into(args, closed_pipe());
        assert!(!stderr(&o).contains("panicked"), "{args:?}: {}", stderr(&o));
        assert_eq!(code(&o), 141, "{args:?}: a closed pipe exits as SIGPIPE would; {}", stderr(&o));
        assert!(stderr(&o).is_empty(), "{args:?}: quietly: {}", stderr(&o));

        let o = run_into(args, full_disk());
        assert!(!stderr(&o).contains("panicked"), "{args:?}: {}", stderr(&o));
        assert_eq!(code(&o), 1, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("cannot write the output to stdout: No space left"), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn attacker_chosen_strings_never_reach_the_terminal_raw() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate(tokenkeep_core::Algorithm::ES256, Some(format!("kid{HOSTILE}"))).unwrap();
    let mut claims = serde_json::Map::new();
    claims.insert("iss".into(), json!(format!("https://issuer.example/{HOSTILE}")));
    claims.insert(format!("name{HOSTILE}"), json!(format!("value{HOSTILE}")));
    claims.insert("nested".into(), json!({"k": HOSTILE}));
    claims.insert("exp".into(), json!(now().as_secs() + 600));
    let token = key.sign_jwt(&claims, None).unwrap();

    // inspect, human: one line per member, nothing a terminal acts on.
    let o = run(&["inspect", &token]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_terminal_safe("inspect", &stdout(&o));
    assert!(stdout(&o).contains("admin\u{fffd}gpj.exe"), "{}", stdout(&o));
    // inspect --json: escaped, and the same values once parsed.
    let o = run(&["inspect", "--json", &token]);
    assert_terminal_safe("inspect --json", &stdout(&o));
    let parsed: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(parsed["claims"], Value::Object(claims.clone()));
    assert_eq!(parsed["header"]["kid"], json!(format!("kid{HOSTILE}")));

    // verify, valid token: a good signature does not make the claims safe to print.
    let jwks = write(dir.path(), "jwks.json", &json!({"keys": [key.public_jwk().unwrap()]}).to_string());
    let issuer = format!("https://issuer.example/{HOSTILE}");
    let o = run(&["verify", &token, "--issuer", &issuer, "--jwks", jwks.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_terminal_safe("verify", &stdout(&o));
    let o = run(&["verify", &token, "--issuer", &issuer, "--jwks", jwks.to_str().unwrap(), "--json"]);
    assert_terminal_safe("verify --json", &stdout(&o));
    // A rejection names the hostile kid safely too.
    let o = run(&["verify", &token, "--issuer", "https://other.example", "--jwks", jwks.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert_terminal_safe("verify rejected", &stdout(&o));

    // jwks FILE: a usable key and a skipped one, both with hostile kids.
    let mut public = key.public_jwk().unwrap();
    public["kid"] = json!(format!("usable{HOSTILE}"));
    let set =
        json!({"keys": [public, {"kty": "OKP", "crv": "Ed448", "kid": format!("skipped{HOSTILE}"), "x": "AAAA"}]});
    let file = write(dir.path(), "hostile.json", &set.to_string());
    for args in [vec!["jwks", file.to_str().unwrap()], vec!["jwks", file.to_str().unwrap(), "--json"]] {
        let o = run(&args);
        assert_eq!(code(&o), 0, "{args:?}: {}", stderr(&o));
        assert_terminal_safe("jwks", &stdout(&o));
    }
}

#[test]
fn stdin_is_read_only_up_to_the_token_limit() {
    let dir = tempfile::tempdir().unwrap();
    let jwks = write(dir.path(), "jwks.json", r#"{"keys": []}"#);
    let commands: [&[&str]; 2] =
        [&["inspect", "-"], &["verify", "-", "--issuer", "https://i.example", "--jwks", jwks.to_str().unwrap()]];
    for args in commands {
        let mut child = spawn_piped(args);
        let mut input = child.stdin.take().unwrap();
        // 256 MiB offered; the command must stop reading after the limit and exit,
        // which the writer sees as a broken pipe long before it is done.
        let writer = std::thread::spawn(move || {
            let chunk = vec![b'a'; 1 << 20];
            for _ in 0..256 {
                if input.write_all(&chunk).is_err() {
                    return false;
                }
            }
            true
        });
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(said.contains("over 16384 bytes"), "{args:?}: {said}");
        assert!(!writer.join().unwrap(), "{args:?}: all of stdin was read");
    }
}

#[test]
fn mint_signs_only_with_keys_verifiers_accept() {
    let dir = tempfile::tempdir().unwrap();
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    let short = write(dir.path(), "short.jwk", &json!({"kty": "oct", "k": b64(b"short"), "alg": "HS256"}).to_string());
    let o = run(&["mint", "--key", short.to_str().unwrap(), "--json"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("hmac_secret_too_short") && stderr(&o).contains("32 for HS256"), "{}", stderr(&o));
    assert_eq!(serde_json::from_str::<Value>(&stdout(&o)).unwrap()["error"]["code"], "key_refused");
    let short384 =
        write(dir.path(), "s384.jwk", &json!({"kty": "oct", "k": b64(&[7u8; 40]), "alg": "HS384"}).to_string());
    assert_eq!(code(&run(&["mint", "--key", short384.to_str().unwrap()])), 2, "40 bytes < 48 for HS384");

    let rsa = write(dir.path(), "rsa1024.pem", RSA_1024_PEM);
    let o = run(&["mint", "--key", rsa.to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("too small") && stderr(&o).contains("2048"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("unsupported PKCS#8"), "{}", stderr(&o));
}

#[test]
fn absurd_times_print_short_and_dev_issuer_refuses_a_missing_bearer_file() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate(tokenkeep_core::Algorithm::ES256, Some("k".into())).unwrap();
    let mut claims = serde_json::Map::new();
    claims.insert("iss".into(), json!("https://i.example"));
    claims.insert("nbf".into(), json!(1e300));
    claims.insert("exp".into(), json!(now().as_secs() + 600));
    let token = key.sign_jwt(&claims, None).unwrap();
    let jwks = write(dir.path(), "jwks.json", &json!({"keys": [key.public_jwk().unwrap()]}).to_string());
    let o = run(&["verify", &token, "--issuer", "https://i.example", "--jwks", jwks.to_str().unwrap()]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("not_yet_valid") && stdout(&o).contains("1e300"), "{}", stdout(&o));
    assert!(stdout(&o).len() < 200, "{}", stdout(&o));

    let missing = dir.path().join("no-such-token");
    let mut child = Command::new(BIN)
        .args(["dev-issuer", "--require-bearer", missing.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("dev-issuer started with a bearer file it cannot read");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("no-such-token") && err.contains("--require-bearer"), "{err}");
}
