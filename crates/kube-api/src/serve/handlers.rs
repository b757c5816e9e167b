//! Resource requests: the verb and subresource of a RequestInfo mapped to the operations of the
//! object service ([`crate::storage::objects`]), with request bodies decoded
//! ([`crate::serve::decode`]) and replies encoded as negotiated ([`crate::serve::encode`]).
//! Reviews are in [`crate::serve::reviews`], watches in [`crate::serve::stream`], subresources
//! with their own shapes in [`crate::serve::subresources`], connect subresources go to the
//! handlers other crates register ([`crate::connect`]).

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, StatusCode, header};
use kube_core::media::{self, Allow, Output};
use kube_core::params::{DeleteOptions, ListOptions, WriteOptions};
use kube_core::table::IncludeObject;
use kube_core::{RequestInfo, Status, meta};
use kube_patch::PatchType;
use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::connect::ConnectRequest;
use crate::registry::{ResourceDef, Storage, kinds};
use crate::serve::decode::{self, decode_body};
use crate::serve::responses::{body_response, header_str, json_response, read_body, status_response, with_warnings};
use crate::serve::{encode, reviews, stream, subresources};
use crate::storage::object_store::splice;
use crate::storage::objects::{Ctx, Deleted, Target, Write, patch_schema};

const CONNECT: &[&str] = &["log", "exec", "attach", "portforward", "proxy"];

fn negotiate(headers: &HeaderMap, read: bool) -> Result<Output, Status> {
    let allow = Allow { table: read, partial: read };
    media::negotiate_output(header_str(headers, header::ACCEPT), allow)
        .ok_or_else(|| Status::not_acceptable(media::ACCEPTED))
}

fn include_object(query: Option<&str>) -> Result<IncludeObject, Status> {
    for (k, v) in kube_core::request_info::form_pairs(query.unwrap_or_default()) {
        if k == "includeObject" {
            return IncludeObject::parse(&v).ok_or_else(|| {
                Status::bad_request(format!(
                    "includeObject: Unsupported value: {v:?}: supported values: \"Metadata\", \"None\", \"Object\""
                ))
            });
        }
    }
    Ok(IncludeObject::Metadata)
}

fn ctx(user: rbac::UserInfo, headers: &HeaderMap, query: Option<&str>) -> Result<Ctx, Status> {
    let options = WriteOptions::from_query(query).map_err(Status::from)?;
    Ok(Ctx {
        user,
        user_agent: header_str(headers, header::USER_AGENT).unwrap_or_default().to_string(),
        dry_run: options.dry_run,
        field_manager: options.field_manager,
        field_validation: options.field_validation,
        force: options.force,
        warnings: vec![],
    })
}

fn created_or_ok(created: bool) -> StatusCode {
    if created { StatusCode::CREATED } else { StatusCode::OK }
}

/// Serve a resource request that passed authentication and authorization.
pub async fn serve(
    cluster: &Arc<Cluster>,
    info: &RequestInfo,
    user: rbac::UserInfo,
    request: http::Request<Body>,
) -> Response {
    match serve_inner(cluster, info, user, request).await {
        Ok(response) => response,
        Err(status) => status_response(&status),
    }
}

async fn serve_inner(
    cluster: &Arc<Cluster>,
    info: &RequestInfo,
    user: rbac::UserInfo,
    request: http::Request<Body>,
) -> Result<Response, Status> {
    let objects = cluster.objects();
    let def =
        objects.resource(&info.api_group, &info.api_version, &info.resource).ok_or_else(Status::not_found_path)?;
    let is_namespace_itself = def.is(kinds::NAMESPACE);
    if def.namespaced && info.namespace.is_empty() && (!info.name.is_empty() || info.verb == "create") {
        return Err(Status::not_found_path());
    }
    if !def.namespaced && !info.namespace.is_empty() && !is_namespace_itself {
        return Err(Status::not_found_path());
    }
    if info.parts.len() > 3 && info.subresource != "proxy" {
        return Err(Status::not_found_path());
    }
    let sub = info.subresource.as_str();
    if !sub.is_empty() {
        let Some(subresource) = def.subresource(sub) else { return Err(Status::not_found_path()) };
        if CONNECT.contains(&sub) {
            return connect(cluster, info, &def, user, request).await;
        }
        if !subresource.verbs.contains(&info.verb) {
            return Err(Status::method_not_allowed());
        }
    } else if !def.has_verb(&info.verb) {
        return Err(Status::method_not_allowed());
    }
    let namespace = if def.namespaced { info.namespace.as_str() } else { "" };
    let name = info.name.as_str();
    let query = request.uri().query().map(str::to_string);
    let query = query.as_deref();
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    let target = Target { def: &def, namespace, name, subresource: sub };
    let collection = Target::collection(&def, namespace);

    if def.storage == Storage::Review {
        let body = read_body(body).await?;
        let object = decode_body(&def, &headers, &body)?;
        return reviews::create(cluster, &def, namespace, &user, object).await;
    }

    match (info.verb.as_str(), sub) {
        ("get", "" | "status") => {
            let output = negotiate(&headers, true)?;
            let include = include_object(query)?;
            if output == Output::Json {
                let kv = objects.get_raw(&target).await?;
                if let Some(bytes) = splice(&kv.value, kv.mod_revision, true, &def.api_version()) {
                    return Ok(body_response(StatusCode::OK, "application/json", bytes));
                }
            }
            let object = objects.get(&target).await?;
            Ok(encode::object(&def, &object, output, include, StatusCode::OK))
        }
        ("list" | "watch", _) => {
            let output = negotiate(&headers, true)?;
            let include = include_object(query)?;
            let options = ListOptions::from_query(query).map_err(Status::from)?;
            if options.watch || info.verb == "watch" {
                return stream::watch(cluster, def.clone(), namespace, options, output, include).await;
            }
            if output == Output::Json {
                let raw = objects.list_raw(&collection, &options).await?;
                return Ok(body_response(StatusCode::OK, "application/json", encode::json_list_raw(&def, &raw)?));
            }
            let list = objects.list(&collection, &options).await?;
            Ok(encode::list(&def, &list, output, include))
        }
        ("create", "") => {
            let output = negotiate(&headers, false)?;
            let mut ctx = ctx(user, &headers, query)?;
            let body = read_body(body).await?;
            let object = decode_body(&def, &headers, &body)?;
            let created = objects.create(&collection, object, &mut ctx).await?;
            Ok(with_warnings(
                encode::object(&def, &created, output, IncludeObject::Metadata, StatusCode::CREATED),
                &ctx.warnings,
            ))
        }
        ("update", "" | "status") => {
            let output = negotiate(&headers, false)?;
            let mut ctx = ctx(user, &headers, query)?;
            let body = read_body(body).await?;
            let object = decode_body(&def, &headers, &body)?;
            let (stored, created) = objects.update(&target, object, &mut ctx).await?;
            Ok(with_warnings(
                encode::object(&def, &stored, output, IncludeObject::Metadata, created_or_ok(created)),
                &ctx.warnings,
            ))
        }
        ("patch", "" | "status") => {
            let output = negotiate(&headers, false)?;
            let mut ctx = ctx(user, &headers, query)?;
            let patch_type = patch_type(&def, &headers)?;
            let body = read_body(body).await?;
            let (stored, created) = objects.patch(&target, patch_type, &body, &mut ctx).await?;
            Ok(with_warnings(
                encode::object(&def, &stored, output, IncludeObject::Metadata, created_or_ok(created)),
                &ctx.warnings,
            ))
        }
        ("delete", "") => {
            let output = negotiate(&headers, false)?;
            let body = read_body(body).await?;
            let options = DeleteOptions::from_request(query, &body).map_err(Status::from)?;
            let mut ctx = ctx(user, &headers, None)?;
            ctx.dry_run = options.dry_run;
            match objects.delete(&target, &options, &mut ctx).await? {
                Deleted::Pending(object) => {
                    Ok(encode::object(&def, &object, output, IncludeObject::Metadata, StatusCode::OK))
                }
                Deleted::Gone(object) if def.strategy.return_deleted_object => {
                    Ok(encode::object(&def, &object, output, IncludeObject::Metadata, StatusCode::OK))
                }
                Deleted::Gone(object) => {
                    let status = Status::success(&def.group_resource(), name, meta::uid(&object));
                    Ok(json_response(StatusCode::OK, &status.to_json()))
                }
            }
        }
        ("deletecollection", "") => {
            let output = negotiate(&headers, false)?;
            let body = read_body(body).await?;
            let options = DeleteOptions::from_request(query, &body).map_err(Status::from)?;
            let list_options = ListOptions::from_query(query).map_err(Status::from)?;
            let mut ctx = ctx(user, &headers, None)?;
            ctx.dry_run = options.dry_run;
            let deleted = objects.delete_collection(&collection, &list_options, &options, &mut ctx).await?;
            Ok(encode::list(&def, &deleted, output, IncludeObject::Metadata))
        }
        (verb, "scale") => {
            let mut ctx = ctx(user, &headers, query)?;
            let body = if verb == "get" { Default::default() } else { read_body(body).await? };
            let patch_type = if verb == "patch" { Some(patch_type(&def, &headers)?) } else { None };
            let content_type = header_str(&headers, header::CONTENT_TYPE).unwrap_or("application/json").to_string();
            let request = subresources::ScaleRequest { verb, patch_type, content_type: &content_type, body: &body };
            let scale = subresources::scale(objects, &target, request, &mut ctx).await?;
            Ok(json_response(StatusCode::OK, &scale))
        }
        ("update", "finalize") => {
            let mut ctx = ctx(user, &headers, query)?;
            let body = read_body(body).await?;
            let object = decode_body(&def, &headers, &body)?;
            let finalizers = object.pointer("/spec/finalizers").cloned().unwrap_or_else(|| json!([]));
            let manager = ctx.manager();
            let (stored, _) = objects
                .guaranteed_update(&target, &mut ctx, |current| {
                    let Some(current) = current else { return Ok(None) };
                    let mut new = current.clone();
                    new["spec"] = json!({"finalizers": finalizers.clone()});
                    Ok(Some(Write::Update { object: new, manager: manager.clone(), conditional: false }))
                })
                .await?;
            Ok(json_response(StatusCode::OK, &stored))
        }
        ("create", "binding" | "eviction" | "token") => {
            let body = read_body(body).await?;
            let object: Value = serde_json::from_slice(&body)
                .or_else(|_| decode::protobuf(&body))
                .map_err(|_| Status::bad_request("the body of the request could not be decoded"))?;
            let mut ctx = ctx(user, &headers, query)?;
            subresources::create(cluster, &target, object, &mut ctx).await
        }
        _ => Err(Status::method_not_allowed()),
    }
}

fn patch_type(def: &ResourceDef, headers: &HeaderMap) -> Result<PatchType, Status> {
    let content_type = header_str(headers, header::CONTENT_TYPE).unwrap_or_default();
    let schema = patch_schema(def);
    match PatchType::from_content_type(content_type) {
        Some(PatchType::StrategicMerge) if !schema.supports_strategic_merge_patch() => {
            Err(Status::unsupported_media_type(&PatchType::accepted(&schema)))
        }
        Some(t) => Ok(t),
        None => Err(Status::unsupported_media_type(&PatchType::accepted(&schema))),
    }
}

async fn connect(
    cluster: &Arc<Cluster>,
    info: &RequestInfo,
    def: &ResourceDef,
    user: rbac::UserInfo,
    request: http::Request<Body>,
) -> Result<Response, Status> {
    let namespace = if def.namespaced { info.namespace.clone() } else { String::new() };
    if let Some(handler) = cluster.connect_handler(&def.plural, &info.subresource) {
        let request = ConnectRequest {
            objects: cluster.objects().clone(),
            namespace,
            name: info.name.clone(),
            resource: def.plural.clone(),
            subresource: info.subresource.clone(),
            user,
            request,
        };
        return Ok(handler.connect(request).await);
    }
    // Nothing runs the workload: answer as kube-apiserver does when the kubelet cannot.
    let object = cluster.objects().get(&Target::object(def, &namespace, &info.name)).await?;
    if def.is(kinds::POD) {
        let container =
            object.pointer("/spec/containers/0/name").and_then(Value::as_str).unwrap_or_default().to_string();
        let container = kube_core::request_info::form_pairs(request.uri().query().unwrap_or_default())
            .find(|(k, _)| k == "container")
            .map(|(_, v)| v)
            .unwrap_or(container);
        return Err(Status::bad_request(format!(
            "container \"{container}\" in pod \"{}\" is waiting to start: ContainerCreating",
            info.name
        )));
    }
    Err(Status::not_found_path())
}
