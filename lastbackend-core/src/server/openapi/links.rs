//! OpenAPI links: from each create to the operations on what it made, so
//! clients and property-based testers reach existing objects.

use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::{OpenApi, RefOr};

use super::path_parameters;

/// Links from each operation that can answer 201 (a create, a member's
/// registration) to the operations under the object it makes: the path
/// parameters they share come from the request, the object's own (the
/// segment after a create's path) from the answer's `meta.name`. Clients
/// and property-based testers follow them to reach existing objects.
pub(super) fn link(document: &mut OpenApi) {
    let mut operations = Vec::new();
    for (path, item) in &document.paths.paths {
        for operation in [&item.get, &item.put, &item.post, &item.delete]
            .into_iter()
            .flatten()
        {
            let creates = operation.responses.responses.contains_key("201");
            let id = operation.operation_id.clone().unwrap_or_default();
            operations.push((path.clone(), id, creates));
        }
    }
    for (source, source_id, creates) in &operations {
        if !*creates {
            continue;
        }
        let is_post = source_id.starts_with("post_");
        let shared: Vec<_> = path_parameters(source).collect();
        let mut links = Vec::new();
        for (target, target_id, _) in &operations {
            let Some(rest) = target.strip_prefix(source.as_str()) else {
                continue;
            };
            if target_id == source_id || (rest.is_empty() && is_post) {
                continue;
            }
            if !rest.is_empty() && !rest.starts_with('/') {
                continue;
            }
            let mut parameters = Vec::new();
            let mut complete = true;
            for (index, name) in path_parameters(target).enumerate() {
                if shared.contains(&name) {
                    parameters.push((name.to_owned(), format!("$request.path.{name}")));
                } else if is_post
                    && index == shared.len()
                    && rest.starts_with(&format!("/{{{name}}}"))
                {
                    parameters.push((name.to_owned(), "$response.body#/meta/name".to_owned()));
                } else {
                    complete = false;
                }
            }
            if complete {
                links.push((target_id.clone(), parameters));
            }
        }
        let item = document.paths.paths.get_mut(source).expect("listed above");
        let operation = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        .find(|operation| operation.operation_id.as_deref() == Some(source_id))
        .expect("listed above");
        for (status, response) in operation.responses.responses.iter_mut() {
            let RefOr::T(response) = response else {
                continue;
            };
            if !status.starts_with('2') {
                continue;
            }
            for (target_id, parameters) in &links {
                // utoipa 5 writes `Link::operation_id` as `operation_id`,
                // which OpenAPI readers do not know: the field goes in as
                // the document spells it.
                let spelled = Extensions::from_iter([("operationId", target_id.as_str())]);
                let mut builder = LinkBuilder::new().extensions(Some(spelled));
                for (name, value) in parameters {
                    builder = builder.parameter(name, value.as_str());
                }
                response
                    .links
                    .insert(target_id.clone(), RefOr::T(builder.build()));
            }
        }
    }
}
