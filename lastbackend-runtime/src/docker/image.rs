//! [`Cii`] over the Docker Engine API.

use async_trait::async_trait;
use bollard::auth::DockerCredentials;
use bollard::models::{ImageInspect, ImageSummary};
use bollard::query_parameters::{
    CreateImageOptionsBuilder, ListImagesOptionsBuilder, RemoveImageOptionsBuilder,
};
use chrono::DateTime;
use futures::StreamExt;

use super::{DRIVER, DockerRuntime, convert, error, is_status, message};
use crate::{Cii, Error, ImageInfo, RegistryAuth, Result};

#[async_trait]
impl Cii for DockerRuntime {
    fn name(&self) -> &str {
        DRIVER
    }

    async fn pull(&self, reference: &str, auth: Option<&RegistryAuth>) -> Result<ImageInfo> {
        let (repository, tag) = split_reference(reference)?;
        // Without a tag the engine would pull every tag of the repository.
        let reference = match tag {
            Some(_) => reference.to_owned(),
            None => format!("{repository}:latest"),
        };
        let options = CreateImageOptionsBuilder::new()
            .from_image(&reference)
            .build();
        let credentials = auth.map(|auth| DockerCredentials {
            username: Some(auth.username.clone()),
            password: Some(auth.password.clone()),
            serveraddress: auth.server.clone(),
            ..DockerCredentials::default()
        });
        let mut progress = self
            .docker
            .create_image(Some(options), None, credentials)
            .boxed();
        // Failures arrive as a status code, or mid-stream after a 200.
        while let Some(item) = progress.next().await {
            item.map_err(|e| match e {
                e if is_status(&e, 400) => {
                    convert::invalid(format!("image reference {reference:?}"), message(&e))
                }
                e if is_status(&e, 404) => Error::not_found("image", reference.clone()),
                e => Error::backend(DRIVER, format_args!("pull {reference}: {}", message(&e))),
            })?;
        }
        self.inspect(&reference).await
    }

    async fn list(&self) -> Result<Vec<ImageInfo>> {
        let options = ListImagesOptionsBuilder::new().build();
        let images =
            self.docker.list_images(Some(options)).await.map_err(|e| {
                Error::backend(DRIVER, format_args!("list images: {}", message(&e)))
            })?;
        Ok(images.into_iter().map(summary_info).collect())
    }

    async fn inspect(&self, reference: &str) -> Result<ImageInfo> {
        let image = self
            .docker
            .inspect_image(reference)
            .await
            .map_err(error("image", reference))?;
        Ok(inspect_info(image))
    }

    async fn remove(&self, reference: &str, force: bool) -> Result<()> {
        let options = RemoveImageOptionsBuilder::new().force(force).build();
        self.docker
            .remove_image(reference, Some(options), None)
            .await
            .map(drop)
            .map_err(error("image", reference))
    }
}

/// Splits `repository[:tag][@digest]` into its repository and tag (or
/// digest); a port in the registry host is not a tag.
pub(super) fn split_reference(reference: &str) -> Result<(&str, Option<&str>)> {
    let bad = |reason: &str| {
        convert::invalid(format!("image reference {reference:?}"), reason.to_owned())
    };
    if reference.is_empty() || reference.chars().any(char::is_whitespace) {
        return Err(bad("empty or holds whitespace"));
    }
    if let Some((repository, digest)) = reference.split_once('@') {
        return Ok((repository, Some(digest)));
    }
    let name_start = reference.rfind('/').map_or(0, |slash| slash + 1);
    match reference[name_start..].rfind(':') {
        Some(colon) => {
            let (repository, tag) = reference.split_at(name_start + colon);
            if tag.len() == 1 {
                return Err(bad("empty tag after ':'"));
            }
            Ok((repository, Some(&tag[1..])))
        }
        None => Ok((reference, None)),
    }
}

fn tags(tags: Vec<String>) -> Vec<String> {
    tags.into_iter()
        .filter(|tag| tag != "<none>:<none>")
        .collect()
}

fn summary_info(image: ImageSummary) -> ImageInfo {
    ImageInfo {
        id: image.id,
        tags: tags(image.repo_tags),
        size: u64::try_from(image.size).unwrap_or_default(),
        created: DateTime::from_timestamp(image.created, 0),
    }
}

pub(super) fn inspect_info(image: ImageInspect) -> ImageInfo {
    ImageInfo {
        id: image.id.unwrap_or_default(),
        tags: tags(image.repo_tags.unwrap_or_default()),
        size: image
            .size
            .and_then(|size| u64::try_from(size).ok())
            .unwrap_or_default(),
        created: image.created.as_deref().and_then(convert::timestamp),
    }
}

#[cfg(test)]
mod tests {
    use super::split_reference;

    #[test]
    fn references_split_at_the_tag_not_the_port() {
        let cases = [
            ("busybox", ("busybox", None)),
            ("busybox:1.36", ("busybox", Some("1.36"))),
            (
                "127.0.0.1:5000/lb/busybox",
                ("127.0.0.1:5000/lb/busybox", None),
            ),
            (
                "127.0.0.1:5000/busybox:t",
                ("127.0.0.1:5000/busybox", Some("t")),
            ),
            ("busybox@sha256:ab", ("busybox", Some("sha256:ab"))),
        ];
        for (reference, want) in cases {
            assert_eq!(split_reference(reference).unwrap(), want, "{reference}");
        }
        for bad in ["", "a b", "busybox:"] {
            let err = split_reference(bad).unwrap_err();
            assert!(err.to_string().contains("image reference"), "{err}");
        }
    }
}
