use trigger_runtime::prelude::*;

#[http_endpoint(
    id = "git-hub_1.0~x",
    source = "github.com",
    icon = "github",
    title = "GitHub",
    enabled = false,
    header = "X-Hub-Signature-512",
    algorithm = "sha512",
    encoding = "base64",
    prefix = "sha512=",
    secret = "GITHUB_SECRET",
    crate = ::trigger_runtime
)]
pub fn github();

#[job(
    id = "github-push",
    name = "GitHub push",
    version = "2.1.0-beta.1+build.5",
    enabled = false,
    trigger = github,
    crate = ::trigger_runtime
)]
pub async fn github_push(request: Request, io: Io, ctx: Context) -> Result<String> {
    io.logger.info("Job", ctx.job_id());
    Ok(request.text()?.to_owned())
}

fn main() {
    assert!(!github.is_enabled());
    assert_eq!(github.title(), "GitHub");
}
