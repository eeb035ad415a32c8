//! A small client: the base URL from `API_BASE_URL`, one client address per caller
//! (honoured by servers that trust the test machine as a proxy), tenants and members.

use crate::models::{Problem, Registered, TokenPair, User};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

pub fn base_url() -> String {
    std::env::var("API_BASE_URL")
        .unwrap_or_else(|_| "http://localhost:8000".to_string())
        .trim_end_matches('/')
        .to_string()
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    address: String,
    token: Option<String>,
}

impl Api {
    pub fn anonymous() -> Self {
        let bytes = uuid::Uuid::new_v4().into_bytes();
        Api {
            http: reqwest::Client::new(),
            base: base_url(),
            address: format!("198.18.{}.{}", bytes[0], bytes[1].max(1)),
            token: None,
        }
    }

    pub fn with_token(&self, token: &str) -> Self {
        Api {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let builder = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .header("X-Forwarded-For", &self.address);
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path)
            .send()
            .await
            .expect("GET reaches the server")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path)
            .json(body)
            .send()
            .await
            .expect("POST reaches the server")
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> Response {
        self.request(Method::PUT, path)
            .json(body)
            .send()
            .await
            .expect("PUT reaches the server")
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.request(Method::DELETE, path)
            .send()
            .await
            .expect("DELETE reaches the server")
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.post_json(
            "/auth/login",
            &json!({"username": username, "password": password}),
        )
        .await
    }
}

/// A new tenant with its admin logged in.
pub struct TenantAdmin {
    pub tenant_id: String,
    pub admin_id: String,
    pub username: String,
    pub password: String,
    pub tokens: TokenPair,
    pub api: Api,
}

pub async fn register_tenant() -> TenantAdmin {
    let anonymous = Api::anonymous();
    let username = unique("admin");
    let password = format!("Pw-{}-long", unique("x"));
    let registered = anonymous
        .post_json(
            "/auth/register",
            &json!({
                "tenant_name": unique("Tenant"),
                "admin_email": format!("{username}@contract.example.org"),
                "admin_username": username,
                "admin_password": password,
            }),
        )
        .await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    let registered: Registered = registered.json().await.expect("register body");
    let login = anonymous.login(&username, &password).await;
    assert_eq!(login.status(), StatusCode::OK);
    let tokens: TokenPair = login.json().await.expect("token pair");
    TenantAdmin {
        tenant_id: registered.tenant_id,
        admin_id: registered.admin_user_id,
        api: anonymous.with_token(&tokens.access_token),
        username,
        password,
        tokens,
    }
}

/// A member of the admin's tenant with the given role, logged in.
pub async fn make_member(admin: &TenantAdmin, role: &str) -> (User, Api) {
    let username = unique("member");
    let password = format!("Pw-{}-long", unique("m"));
    let created = admin
        .api
        .post_json(
            "/api/v1/users",
            &json!({
                "username": username,
                "email": format!("{username}@contract.example.org"),
                "full_name": "Contract Member",
                "role": role,
                "password": password,
            }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let user: User = created.json().await.expect("user body");
    let anonymous = Api::anonymous();
    let login = anonymous.login(&username, &password).await;
    assert_eq!(login.status(), StatusCode::OK);
    let tokens: TokenPair = login.json().await.expect("token pair");
    (user, anonymous.with_token(&tokens.access_token))
}

/// Asserts an RFC 9457 problem document with this status and returns it.
pub async fn expect_problem(response: Response, status: u16) -> Problem {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("application/problem+json"),
        "{content_type}"
    );
    let problem: Problem = response.json().await.expect("problem document");
    assert_eq!(problem.status, status);
    assert!(!problem.kind.is_empty() && !problem.title.is_empty() && !problem.detail.is_empty());
    problem
}

impl Api {
    /// Uploads `bytes` as the multipart field `file`; the caller checks the answer.
    pub async fn upload(&self, name: &str, content_type: &str, bytes: Vec<u8>) -> Response {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_string())
            .mime_str(content_type)
            .expect("a valid content type");
        self.request(Method::POST, "/api/v1/files/upload")
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
            .await
            .expect("upload reaches the server")
    }
}
