//! An IAM-enforcing proxy on loopback in front of moto: each request is mapped to the IAM action and resource
//! AWS would authorize it as (from the SigV4 credential scope, `X-Amz-Target`, the query `Action`, or S3's and
//! Lambda's REST paths), evaluated against one role policy, and answered AccessDenied in that service's own
//! error shape when the policy does not allow it; allowed requests are forwarded unchanged. Conditions are
//! evaluated with the keys the request carries that the role policies use (`s3:prefix` of a listing); a
//! CreateStack or UpdateStack that sends tags is also authorized as `cloudformation:TagResource`, as AWS does. Every
//! decision is recorded, so a test can check that a command made no call outside its role.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tiny_http::Header;

use crate::iam_eval::{Context, Policy};
use crate::upstream::{Loopback, pass_on, reply};

pub(crate) const ACCOUNT: &str = "123456789012";
pub(crate) const REGION: &str = "us-east-1";

/// One request as IAM saw it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Call {
    pub action: String,
    pub resource: String,
    pub allowed: bool,
}

pub(crate) struct IamProxy {
    _front: Loopback,
    pub url: String,
    pub calls: Arc<Mutex<Vec<Call>>>,
}

/// A role policy from examples/iam/, filled in for the test deployment (stack `reaqtions`).
pub(crate) fn role_policy(role: &str, raw_bucket: &str) -> (Policy, String) {
    role_policy_for(role, "reaqtions", raw_bucket)
}

/// A role policy from examples/iam/, filled in for a deployment of `stack`.
pub(crate) fn role_policy_for(role: &str, stack: &str, raw_bucket: &str) -> (Policy, String) {
    use reaqtions::aws::iam::{PolicyNames, fill};
    let (_, policy) = reaqtions::aws::iam::ROLE_POLICIES.iter().find(|(name, _)| *name == role).unwrap();
    let glue_database = reaqtions::aws::stack::catalog_names(stack).0;
    let names = PolicyNames {
        partition: "aws",
        region: REGION,
        account: ACCOUNT,
        stack,
        raw_bucket,
        glue_database: &glue_database,
    };
    // Filled in exactly as `reaqtions template iam` and deploy's pre-flight fill them.
    let text = fill(policy, &names);
    let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    (Policy::from_documents(&[doc]), text)
}

fn decode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then_some(v)
    })
}

/// The IAM action and resource of a request; `None` for calls IAM does not authorize (sts:GetCallerIdentity).
/// A call IAM authorizes against several resources names them all, separated by ", ".
fn authorize_as(method: &str, url: &str, headers: &[Header], body: &[u8]) -> Option<(String, String)> {
    let header = |name: &'static str| headers.iter().find(|h| h.field.equiv(name)).map(|h| h.value.as_str().to_owned());
    let service = header("Authorization")
        .and_then(|a| a.split("Credential=").nth(1).map(|c| c.split('/').nth(3).unwrap_or("").to_owned()))
        .unwrap_or_default();
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    // CloudWatch's RPCv2 CBOR: the operation is in the path. GetMetricData and ListMetrics have no resource-level
    // permissions; DescribeAlarms is authorized on the account's alarms.
    if let Some(operation) = path.strip_prefix("/service/GraniteServiceVersion20100801/operation/") {
        return Some((format!("cloudwatch:{operation}"), "*".into()));
    }
    if let Some(target) = header("X-Amz-Target") {
        let operation = target.rsplit('.').next().unwrap_or("").to_owned();
        let input: Value = serde_json::from_slice(body).unwrap_or_default();
        return Some(match service.as_str() {
            "firehose" => (
                format!("firehose:{operation}"),
                format!(
                    "arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{}",
                    input["DeliveryStreamName"].as_str().unwrap_or("*")
                ),
            ),
            "logs" => (
                format!("logs:{operation}"),
                format!("arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{}", input["logGroupName"].as_str().unwrap_or("*")),
            ),
            other => (format!("{other}:{operation}"), "*".into()),
        });
    }
    let form = String::from_utf8_lossy(body).into_owned();
    if let Some(action) = query_param(&form, "Action") {
        return match service.as_str() {
            "sts" => None,
            "cloudformation" => {
                let stack = query_param(&form, "StackName").map(decode).unwrap_or_else(|| "*".into());
                Some((
                    format!("cloudformation:{action}"),
                    format!("arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack}/id"),
                ))
            }
            other => Some((format!("{other}:{action}"), "*".into())),
        };
    }
    if service == "lambda" {
        let name = path.trim_start_matches("/2015-03-31/functions/").split('/').next().unwrap_or("");
        let action = if path.ends_with("/invocations") { "lambda:InvokeFunction" } else { "lambda:GetFunction" };
        return Some((action.into(), format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")));
    }
    if service == "s3" {
        let mut parts = path.trim_start_matches('/').splitn(2, '/');
        let bucket = parts.next().unwrap_or("");
        let key = parts.next().map(decode).unwrap_or_default();
        if bucket.is_empty() {
            return Some(("s3:ListAllMyBuckets".into(), "*".into()));
        }
        let bucket_arn = format!("arn:aws:s3:::{bucket}");
        if key.is_empty() {
            let sub = ["versions", "versioning", "tagging", "policy", "encryption", "publicAccessBlock", "delete"]
                .into_iter()
                .find(|s| query_param(query, s).is_some());
            let action = match (method, sub) {
                (_, Some("versions")) => "s3:ListBucketVersions",
                ("GET", Some("versioning")) => "s3:GetBucketVersioning",
                ("GET", Some("tagging")) => "s3:GetBucketTagging",
                ("GET", Some("policy")) => "s3:GetBucketPolicy",
                ("GET", Some("encryption")) => "s3:GetEncryptionConfiguration",
                ("GET", Some("publicAccessBlock")) => "s3:GetBucketPublicAccessBlock",
                ("POST", Some("delete")) => "s3:DeleteObject",
                ("GET" | "HEAD", None) => "s3:ListBucket",
                ("PUT", None) => "s3:CreateBucket",
                ("DELETE", None) => "s3:DeleteBucket",
                _ => "s3:Unknown",
            };
            // DeleteObjects is authorized per key (s3:DeleteObject on each object), not on the bucket.
            let resource = if sub == Some("delete") { format!("{bucket_arn}/*") } else { bucket_arn };
            return Some((action.into(), resource));
        }
        let action = match method {
            "GET" | "HEAD" => "s3:GetObject",
            "PUT" => "s3:PutObject",
            "DELETE" => "s3:DeleteObject",
            _ => "s3:Unknown",
        };
        return Some((action.into(), format!("{bucket_arn}/{key}")));
    }
    if service == "iot" {
        return Some(iot_action(method, path, query, header("x-amzn-principal")));
    }
    Some((format!("{service}:Unknown"), "*".into()))
}

/// IoT's REST routes (botocore's iot/2015-05-28) as IAM actions on their resources. Attaching a principal to a
/// thing, and detaching it, is authorized against the thing and the certificate (`x-amzn-principal`), as IoT does.
fn iot_action(method: &str, path: &str, query: &str, principal: Option<String>) -> (String, String) {
    let arn = |what: &str| format!("arn:aws:iot:{REGION}:{ACCOUNT}:{what}");
    let parts: Vec<String> = path.trim_start_matches('/').split('/').map(decode).collect();
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let (action, resource) = match (method, parts.as_slice()) {
        ("GET", ["things"]) => ("ListThings", "*".to_owned()),
        ("POST", ["things", thing]) => ("CreateThing", arn(&format!("thing/{thing}"))),
        ("DELETE", ["things", thing]) => ("DeleteThing", arn(&format!("thing/{thing}"))),
        ("GET", ["things", thing, "principals"]) => ("ListThingPrincipals", arn(&format!("thing/{thing}"))),
        ("PUT" | "DELETE", ["things", thing, "principals"]) => (
            if method == "PUT" { "AttachThingPrincipal" } else { "DetachThingPrincipal" },
            format!("{}, {}", arn(&format!("thing/{thing}")), principal.unwrap_or_else(|| "*".into())),
        ),
        ("POST", ["keys-and-certificate"]) => ("CreateKeysAndCertificate", "*".to_owned()),
        ("PUT", ["certificates", id]) if query_param(query, "newStatus").is_some() => {
            ("UpdateCertificate", arn(&format!("cert/{id}")))
        }
        ("DELETE", ["certificates", id]) => ("DeleteCertificate", arn(&format!("cert/{id}"))),
        ("PUT", ["target-policies", _]) => ("AttachPolicy", "*".to_owned()),
        ("POST", ["target-policies", _]) => ("DetachPolicy", "*".to_owned()),
        ("POST", ["attached-policies", target]) => {
            ("ListAttachedPolicies", arn(&format!("cert/{}", target.rsplit('/').next().unwrap_or(""))))
        }
        ("GET", ["policies"]) => ("ListPolicies", "*".to_owned()),
        ("POST", ["policies", name]) => ("CreatePolicy", arn(&format!("policy/{name}"))),
        ("DELETE", ["policies", name]) => ("DeletePolicy", arn(&format!("policy/{name}"))),
        ("POST", ["policies", name, "version"]) => ("CreatePolicyVersion", arn(&format!("policy/{name}"))),
        ("GET", ["policies", name, "version"]) => ("ListPolicyVersions", arn(&format!("policy/{name}"))),
        ("DELETE", ["policies", name, "version", _]) => ("DeletePolicyVersion", arn(&format!("policy/{name}"))),
        ("GET", ["endpoint"]) => ("DescribeEndpoint", "*".to_owned()),
        _ => ("Unknown", "*".to_owned()),
    };
    (format!("iot:{action}"), resource)
}

/// What a CreateStack or UpdateStack that sends tags is also authorized as: `cloudformation:TagResource` on the
/// stack, in the context CloudFormation supplies (the call as `cloudformation:CreateAction`, the tags sent as
/// `aws:RequestTag/*` and `aws:TagKeys`). `None` for any other request, and for one without tags.
fn tag_on_create(url: &str, body: &[u8]) -> Option<(String, String, Context)> {
    let form = String::from_utf8_lossy(body).into_owned();
    let (_, query) = url.split_once('?').unwrap_or((url, ""));
    let param = |name: &str| query_param(&form, name).or_else(|| query_param(query, name)).map(decode);
    let action = param("Action").filter(|a| a == "CreateStack" || a == "UpdateStack")?;
    let stack = param("StackName")?;
    let tags: Vec<(String, String)> = (1..)
        .map_while(|i| Some((param(&format!("Tags.member.{i}.Key"))?, param(&format!("Tags.member.{i}.Value"))?)))
        .collect();
    if tags.is_empty() {
        return None;
    }
    let keys: Vec<&str> = tags.iter().map(|(k, _)| k.as_str()).collect();
    let mut context = Context::default().with("cloudformation:CreateAction", &[&action]).with("aws:TagKeys", &keys);
    for (k, v) in &tags {
        context = context.with(&format!("aws:RequestTag/{k}"), &[v]);
    }
    let resource = format!("arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack}/id");
    Some(("cloudformation:TagResource".to_owned(), resource, context))
}

/// The condition keys a request carries that the role policies test: S3's `s3:prefix` of a listing (absent when
/// the listing names none, so a policy conditioned on it denies a whole-bucket listing, as IAM does).
fn request_context(url: &str) -> Context {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    match query_param(query, "prefix") {
        Some(prefix) => Context::default().with("s3:prefix", &[&decode(prefix)]),
        None => Context::default(),
    }
}

/// AccessDenied in the shape the service's SDK parses.
fn denied(service_action: &str, resource: &str, method: &str) -> (u16, &'static str, Vec<u8>) {
    let message = format!(
        "User: arn:aws:iam::{ACCOUNT}:user/tester is not authorized to perform: {service_action} on resource: {resource}"
    );
    match service_action.split(':').next().unwrap_or("") {
        "s3" if method == "HEAD" => (403, "application/xml", Vec::new()),
        "s3" => (
            403,
            "application/xml",
            format!("<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>{message}</Message></Error>")
                .into_bytes(),
        ),
        "cloudformation" | "iam" => (
            403,
            "text/xml",
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{message}</Message></Error>\
                 <RequestId>1</RequestId></ErrorResponse>"
            )
            .into_bytes(),
        ),
        _ => (
            400,
            "application/x-amz-json-1.1",
            serde_json::to_vec(&serde_json::json!({"__type": "AccessDeniedException", "message": message})).unwrap(),
        ),
    }
}

impl IamProxy {
    pub(crate) fn start(upstream_url: &str, policy: Policy) -> IamProxy {
        let upstream = upstream_url.trim_start_matches("http://").to_owned();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&calls);
        let front = Loopback::start(move |request| {
            let (method, url) = (request.method.as_str(), request.url.as_str());
            let mut decision = authorize_as(method, url, &request.headers, &request.body);
            let context = request_context(url);
            let mut allowed =
                decision.as_ref().is_none_or(|(a, r)| r.split(", ").all(|r| policy.allows_in(a, r, &context)));
            if let Some((action, resource)) = &decision {
                seen.lock().unwrap().push(Call { action: action.clone(), resource: resource.clone(), allowed });
            }
            if let Some((action, resource, tags)) = tag_on_create(url, &request.body).filter(|_| allowed) {
                allowed = policy.allows_in(&action, &resource, &tags);
                seen.lock().unwrap().push(Call { action: action.clone(), resource: resource.clone(), allowed });
                decision = Some((action, resource));
            }
            if allowed {
                return pass_on(&upstream, &request);
            }
            let (action, resource) = decision.unwrap();
            let (status, content_type, out) = denied(&action, &resource, method);
            let (status, mut headers, out) = reply(status, content_type, out);
            headers.push(Header::from_bytes("x-amzn-ErrorType", "AccessDeniedException").unwrap());
            (status, headers, out)
        });
        IamProxy { url: front.url.clone(), _front: front, calls }
    }

    /// Every call seen, and whether it was allowed.
    pub(crate) fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}
