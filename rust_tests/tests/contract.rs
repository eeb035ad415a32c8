//! The contract, seen from an external process. Every test makes its own tenants, so
//! the tests run in parallel and against any shared server.

use contract_tests::client::{expect_problem, make_member, register_tenant, unique, Api};
use contract_tests::facts;
use contract_tests::models::{FileObject, Health, Page, Stats, TenantList, TokenPair, User};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn user_payload() -> serde_json::Value {
    let username = unique("user");
    json!({"username": username, "email": format!("{username}@contract.example.org"),
           "full_name": "Contract User"})
}

#[tokio::test]
async fn health_answers_with_its_fields() {
    let response = Api::anonymous().get("/health").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("x-request-id"));
    let health: Health = response.json().await.unwrap();
    assert_eq!(health.status, "healthy");
    assert!(!health.version.is_empty() && !health.environment.is_empty());
    assert!(health.timestamp.contains('T'));
}

#[tokio::test]
async fn register_and_login_give_a_bearer_pair() {
    let tenant = register_tenant().await;
    assert_eq!(tenant.tokens.token_type, "bearer");
    assert!(tenant.tokens.expires_in > 0);
    let me: User = tenant
        .api
        .get(&format!("/api/v1/users/{}", tenant.admin_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me.role.as_str(), me.tenant_id.as_str()),
        ("admin", tenant.tenant_id.as_str())
    );
}

#[tokio::test]
async fn invalid_login_and_missing_or_bad_tokens_answer_401() {
    let tenant = register_tenant().await;
    let anonymous = Api::anonymous();
    let wrong = expect_problem(
        anonymous.login(&tenant.username, "not-the-password").await,
        401,
    )
    .await;
    let unknown = expect_problem(
        anonymous.login(&unique("ghost"), "not-the-password").await,
        401,
    )
    .await;
    assert_eq!(wrong.detail, unknown.detail);
    let missing = anonymous.get("/api/v1/users").await;
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    expect_problem(missing, 401).await;
    expect_problem(
        anonymous.with_token("not.a.jwt").get("/api/v1/users").await,
        401,
    )
    .await;
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_the_session() {
    let tenant = register_tenant().await;
    let anonymous = Api::anonymous();
    let old = json!({"refresh_token": tenant.tokens.refresh_token});
    let rotated = anonymous.post_json("/auth/refresh", &old).await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let pair: TokenPair = rotated.json().await.unwrap();
    assert_ne!(pair.refresh_token, tenant.tokens.refresh_token);
    expect_problem(anonymous.post_json("/auth/refresh", &old).await, 401).await;
    // Reuse ended the whole session, the newest pair included.
    expect_problem(
        anonymous
            .with_token(&pair.access_token)
            .get("/api/v1/users")
            .await,
        401,
    )
    .await;
}

#[tokio::test]
async fn logout_revokes_the_access_and_refresh_tokens() {
    let tenant = register_tenant().await;
    let out = tenant
        .api
        .request(Method::POST, "/auth/logout")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    expect_problem(tenant.api.get("/api/v1/users").await, 401).await;
    let refresh = json!({"refresh_token": tenant.tokens.refresh_token});
    expect_problem(
        Api::anonymous().post_json("/auth/refresh", &refresh).await,
        401,
    )
    .await;
}

#[tokio::test]
async fn user_crud_with_soft_delete_duplicates_and_invalid_input() {
    let tenant = register_tenant().await;
    let payload = user_payload();
    let created = tenant.api.post_json("/api/v1/users", &payload).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let user: User = created.json().await.unwrap();
    assert_eq!((user.role.as_str(), user.is_active), ("user", true));

    let problem = expect_problem(tenant.api.post_json("/api/v1/users", &payload).await, 409).await;
    assert!(problem.detail.contains("username"));
    let invalid = tenant
        .api
        .post_json("/api/v1/users", &json!({"username": "x", "email": "nope"}))
        .await;
    assert!(expect_problem(invalid, 422)
        .await
        .errors
        .is_some_and(|e| !e.is_empty()));

    let path = format!("/api/v1/users/{}", user.id);
    let updated: User = tenant
        .api
        .put_json(&path, &json!({"full_name": "Renamed"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(updated.full_name, "Renamed");
    assert_eq!(
        tenant.api.delete(&path).await.status(),
        StatusCode::NO_CONTENT
    );
    let after: User = tenant.api.get(&path).await.json().await.unwrap();
    assert!(!after.is_active);
}

#[tokio::test]
async fn bulk_create_is_in_request_order_and_all_or_nothing() {
    let tenant = register_tenant().await;
    let items: Vec<_> = (0..5).map(|_| user_payload()).collect();
    let created = tenant
        .api
        .post_json("/api/v1/users/bulk", &json!(items))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let users: Vec<User> = created.json().await.unwrap();
    let names: Vec<_> = users.iter().map(|u| u.username.clone()).collect();
    let sent: Vec<_> = items
        .iter()
        .map(|i| i["username"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, sent);

    let clash = json!([user_payload(), items[0]]);
    expect_problem(
        tenant.api.post_json("/api/v1/users/bulk", &clash).await,
        409,
    )
    .await;
    let page: Page<User> = tenant.api.get("/api/v1/users").await.json().await.unwrap();
    assert_eq!(page.total_count, 6);
}

#[tokio::test]
async fn pagination_metadata_across_pages() {
    let tenant = register_tenant().await;
    let items: Vec<_> = (0..11).map(|_| user_payload()).collect();
    assert_eq!(
        tenant
            .api
            .post_json("/api/v1/users/bulk", &json!(items))
            .await
            .status(),
        StatusCode::CREATED
    );
    let mut seen = Vec::new();
    for (number, (count, next, prev)) in [(5, true, false), (5, true, true), (2, false, true)]
        .into_iter()
        .enumerate()
    {
        let page: Page<User> = tenant
            .api
            .get(&format!("/api/v1/users?page={}&page_size=5", number + 1))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            (
                page.data.len(),
                page.has_next,
                page.has_prev,
                page.total_count
            ),
            (count, next, prev, 12)
        );
        assert_eq!((page.page, page.page_size), (number as u64 + 1, 5));
        seen.extend(page.data.into_iter().map(|u| u.id));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 12);
    let past: Page<User> = tenant
        .api
        .get("/api/v1/users?page=9&page_size=5")
        .await
        .json()
        .await
        .unwrap();
    assert!(past.data.is_empty());
}

#[tokio::test]
async fn upload_download_list_and_delete_a_file() {
    let tenant = register_tenant().await;
    let bytes = b"name,city\nAda,London\n".to_vec();
    let uploaded = tenant
        .api
        .upload("people.csv", "text/csv", bytes.clone())
        .await;
    assert_eq!(uploaded.status(), StatusCode::CREATED);
    let file: FileObject = uploaded.json().await.unwrap();
    assert_eq!(
        (file.size_bytes, file.content_type.as_str()),
        (bytes.len() as u64, "text/csv")
    );

    let path = format!("/api/v1/files/{}", file.id);
    let download = tenant.api.get(&path).await;
    assert_eq!(
        download.headers()["etag"].to_str().unwrap(),
        format!("\"{}\"", file.sha256)
    );
    assert!(download.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(download.bytes().await.unwrap().to_vec(), bytes);
    let list: Page<FileObject> = tenant.api.get("/api/v1/files").await.json().await.unwrap();
    assert_eq!(
        list.data.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
        vec![file.id.as_str()]
    );

    assert_eq!(
        tenant.api.delete(&path).await.status(),
        StatusCode::NO_CONTENT
    );
    expect_problem(tenant.api.get(&path).await, 404).await;
}

#[tokio::test]
async fn every_id_route_answers_404_for_another_tenants_ids() {
    let facts = facts::load();
    let (a, b) = (register_tenant().await, register_tenant().await);
    let user: User = b
        .api
        .post_json("/api/v1/users", &user_payload())
        .await
        .json()
        .await
        .unwrap();
    let uploaded = b
        .api
        .upload("b.txt", "text/plain", b"B's notes\n".to_vec())
        .await;
    let file: FileObject = uploaded.json().await.unwrap();

    for route in facts.routes.iter().filter(|r| r.has_id()) {
        let id = if route.path.contains("{file_id}") {
            &file.id
        } else {
            &user.id
        };
        let method = Method::from_bytes(route.method.as_bytes()).unwrap();
        let mut request = a.api.request(method, &route.with_id(id));
        if route.method == "PUT" {
            request = request.json(&json!({"full_name": "Changed by A"}));
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status().as_u16(),
            404,
            "{} {}",
            route.method,
            route.path
        );
    }
    let still: User = b
        .api
        .get(&format!("/api/v1/users/{}", user.id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (still.full_name.as_str(), still.is_active),
        ("Contract User", true)
    );
}

#[tokio::test]
async fn members_get_403_where_the_matrix_says_so() {
    let facts = facts::load();
    let tenant = register_tenant().await;
    let (_, member) = make_member(&tenant, "user").await;
    let forbidden: Vec<_> = facts
        .routes
        .iter()
        .filter(|r| r.expected["user"] == 403)
        .collect();
    assert!(!forbidden.is_empty());
    let uploaded = tenant
        .api
        .upload("a.txt", "text/plain", b"admin's notes\n".to_vec())
        .await;
    let file: FileObject = uploaded.json().await.unwrap();
    for route in forbidden {
        // The targets are someone else's: the admin, and a file the admin uploaded.
        let id = if route.path.contains("{file_id}") {
            &file.id
        } else {
            &tenant.admin_id
        };
        let method = Method::from_bytes(route.method.as_bytes()).unwrap();
        let response = member
            .request(method, &route.with_id(id))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status().as_u16(),
            403,
            "{} {}",
            route.method,
            route.path
        );
    }
    let tenants: TenantList = tenant
        .api
        .get("/api/v1/admin/tenants")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (tenants.total, tenants.tenants[0].id.as_str()),
        (1, tenant.tenant_id.as_str())
    );
    let stats: Stats = tenant
        .api
        .get("/api/v1/admin/stats")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((stats.total_tenants, stats.total_users), (1, 2));
}

#[tokio::test]
async fn every_route_needs_a_token() {
    let facts = facts::load();
    let anonymous = Api::anonymous();
    for route in &facts.routes {
        let method = Method::from_bytes(route.method.as_bytes()).unwrap();
        let response = anonymous
            .request(method, &route.with_id(&uuid::Uuid::new_v4().to_string()))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status().as_u16(),
            route.expected["anonymous"],
            "{} {}",
            route.method,
            route.path
        );
    }
}

#[tokio::test]
async fn the_call_over_the_limit_answers_429_with_its_headers() {
    let limit = facts::load().rate_limit_per_minute;
    let tenant = register_tenant().await;
    for n in 0..limit {
        let response = tenant.api.get("/api/v1/users").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["x-ratelimit-remaining"]
                .to_str()
                .unwrap(),
            (limit - 1 - n).to_string()
        );
    }
    let limited = tenant.api.get("/api/v1/users").await;
    for header in [
        "retry-after",
        "x-ratelimit-limit",
        "x-ratelimit-reset",
        "ratelimit",
        "ratelimit-policy",
    ] {
        assert!(limited.headers().contains_key(header), "{header}");
    }
    assert_eq!(limited.headers()["x-ratelimit-remaining"], "0");
    expect_problem(limited, 429).await;
}

#[tokio::test]
async fn errors_are_problem_documents() {
    let tenant = register_tenant().await;
    expect_problem(
        tenant
            .api
            .get(&format!("/api/v1/users/{}", uuid::Uuid::new_v4()))
            .await,
        404,
    )
    .await;
    expect_problem(tenant.api.get("/api/v1/users/not-a-uuid").await, 404).await;
    expect_problem(tenant.api.get("/api/v1/users?page_size=101").await, 422).await;
    expect_problem(Api::anonymous().get("/no/such/route").await, 404).await;
}
