#!/usr/bin/env bash
# `make deploy`: deploy template.yaml to AWS with the credentials the AWS CLI uses (profile, SSO or environment).
#
#   1. builds the Lambda package (build/lambda/, python -m infra.build_lambda);
#   2. builds the worker image for the task definition's CPU architecture and pushes it to an ECR repository
#      (created on the first run) under a new tag;
#   3. sam deploy: --guided the first time (answers saved in samconfig.toml), plain afterwards, with the new
#      image as the WorkerImage parameter;
#   4. creates the first admin key (python -m infra.bootstrap_admin) and prints the API URL.
#
# Why no `sam build`: it would pip-install the dependencies for the build host (or in a container) into
# .aws-sam/build/. Step 1 already installs them for the Lambda runtime (python3.11 arm64 wheels) into the folder
# the template's CodeUri names, and checks the result; `sam deploy` zips that folder as it is and uploads it, so
# the template is deployed straight from template.yaml (--template-file also keeps a stale .aws-sam/build from
# being picked up instead).
#
# Environment (all optional):
#   STACK_NAME           first run only, the default offered by the guided deploy (default: ytdlp-host);
#                        afterwards samconfig.toml decides
#   AWS_REGION           first run only, likewise (default: the AWS CLI's configured region, else us-east-1)
#   ADMIN_API_KEY        the admin key's value (at least 32 random characters); default: generated once
#   PARAMETER_OVERRIDES  more template parameters for this deploy, e.g. "MaxWorkerTasks=8 WorkerCpu=2048
#                        WorkerMemory=4096"; parameters not given keep their previous values
#   PYTHON               the interpreter with the project's packages (default: .venv/bin/python)
#   YTDLP_VERSION        a yt-dlp release, latest or nightly for the worker image (default: the pinned one)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY="${PYTHON:-.venv/bin/python}"
CONFIG_FILE="samconfig.toml"

die() {
    printf 'deploy: %s\n' "$*" >&2
    exit 1
}
step() {
    printf '\n==> %s\n' "$*"
}

# ---------------------------------------------------------------- prerequisites

need() {
    command -v "$1" >/dev/null 2>&1 || die "$1 is not installed. $2"
}
need aws "Install the AWS CLI v2: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"
need sam "Install the AWS SAM CLI: https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/install-sam-cli.html"
need docker "Install Docker (Docker Desktop, or Docker Engine with the buildx plugin): https://docs.docker.com/get-docker/"
[ -x "$PY" ] || die "$PY not found: run 'make deploy' (it sets up .venv) or set PYTHON to an interpreter with requirements.txt installed."

case "$(aws --version 2>&1)" in
    aws-cli/2.*) ;;
    *) printf 'deploy: warning: AWS CLI v2 is expected (found: %s)\n' "$(aws --version 2>&1)" >&2 ;;
esac
docker info >/dev/null 2>&1 || die "Docker is installed but not running (or this user may not use it): start Docker and run this again."
docker buildx version >/dev/null 2>&1 || die "docker buildx is missing: install the buildx plugin (included in Docker Desktop)."

# ---------------------------------------------------------------- stack, region, account

# A value of samconfig.toml's default environment (deploy section first, then global), or nothing.
config_value() {
    [ -f "$CONFIG_FILE" ] || return 0
    "$PY" - "$CONFIG_FILE" "$1" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    config = tomllib.load(f).get("default", {})
for section in ("deploy", "global"):
    value = config.get(section, {}).get("parameters", {}).get(sys.argv[2])
    if value:
        print(value)
        break
EOF
}

# samconfig.toml (written by the first, guided deploy) decides; before it exists, the environment or defaults.
stack_name="$(config_value stack_name)"
region="$(config_value region)"
stack_name="${stack_name:-${STACK_NAME:-ytdlp-host}}"
region="${region:-${AWS_REGION:-${AWS_DEFAULT_REGION:-$(aws configure get region 2>/dev/null || true)}}}"
region="${region:-us-east-1}"

account="$(aws sts get-caller-identity --query Account --output text 2>/dev/null)" \
    || die "no working AWS credentials: run 'aws configure' (access keys) or 'aws sso login' (IAM Identity Center), or set AWS_PROFILE."
echo "Deploying stack '$stack_name' to account $account in $region."

# ---------------------------------------------------------------- 1. Lambda package

step "Building the Lambda package (build/lambda/)"
"$PY" -m infra.build_lambda --check

# ---------------------------------------------------------------- 2. worker image

# The image must match the task definition's RuntimePlatform.CpuArchitecture.
arch="$("$PY" -c 'from infra.deploy_local import load_template
print(load_template()["Resources"]["WorkerTaskDefinition"]["Properties"]["RuntimePlatform"]["CpuArchitecture"])')"
case "$arch" in
    ARM64) platform="linux/arm64" ;;
    X86_64) platform="linux/amd64" ;;
    *) die "unexpected CpuArchitecture '$arch' in template.yaml" ;;
esac
platforms="$(docker buildx inspect --bootstrap 2>/dev/null | sed -n 's/^Platforms:[[:space:]]*//p' || true)"
if [[ "$platforms" != *"$platform"* ]]; then
    die "docker cannot build $platform images here (builder platforms: ${platforms:-unknown}). Docker Desktop can;
on Linux, register QEMU emulation once with: docker run --privileged --rm tonistiigi/binfmt --install ${platform#linux/}"
fi

repository="$(printf '%s' "$stack_name" | tr '[:upper:]' '[:lower:]')-worker"
step "Worker image repository: $repository"
if ! repository_uri="$(aws ecr describe-repositories --region "$region" --repository-names "$repository" \
    --query 'repositories[0].repositoryUri' --output text 2>/dev/null)"; then
    repository_uri="$(aws ecr create-repository --region "$region" --repository-name "$repository" \
        --image-tag-mutability IMMUTABLE --image-scanning-configuration scanOnPush=true \
        --query 'repository.repositoryUri' --output text)"
    # Every deploy pushes a new tag: keep the last 10 images (enough to roll back), not every one ever built.
    aws ecr put-lifecycle-policy --region "$region" --repository-name "$repository" --lifecycle-policy-text \
        '{"rules":[{"rulePriority":1,"description":"keep the last 10 images","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":10},"action":{"type":"expire"}}]}' \
        >/dev/null
    echo "created $repository_uri"
fi

# A new tag per deploy: a changed WorkerImage parameter is what makes ECS roll the worker tasks to the new image.
tag="$(date -u +%Y%m%d-%H%M%S)-$(git rev-parse --short HEAD 2>/dev/null || echo local)"
image="$repository_uri:$tag"

step "Building and pushing $image ($platform)"
aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "${repository_uri%%/*}"
# Context: the repository root (the Dockerfile copies requirements.txt, shared/ and functions/worker/).
# --provenance=false: a plain image manifest rather than an index with an attestation.
# YTDLP_VERSION (docs/sites.md): another yt-dlp release than the pinned one, checked before the build.
ytdlp_version="$("$PY" -c 'import sys; from infra.ytdlp_release import check; print(check(sys.argv[1]))' "${YTDLP_VERSION:-}")" \
    || die "YTDLP_VERSION: use a yt-dlp release such as 2026.8.19, latest or nightly."
[ -z "$ytdlp_version" ] || step "Worker image with yt-dlp $ytdlp_version"
docker buildx build --platform "$platform" --provenance=false \
    --build-arg "YTDLP_VERSION=$ytdlp_version" \
    -f functions/worker/Dockerfile -t "$image" --push .

# ---------------------------------------------------------------- 3. the stack

overrides=("WorkerImage=$image")
if [ -n "${PARAMETER_OVERRIDES:-}" ]; then
    read -r -a extra <<<"$PARAMETER_OVERRIDES"
    overrides+=("${extra[@]}")
fi
# CAPABILITY_IAM: the template creates roles (without fixed names, so CAPABILITY_NAMED_IAM is not needed).
# --parameter-overrides stays last: it takes every argument after it.
deploy_args=(
    --template-file template.yaml
    --stack-name "$stack_name"
    --region "$region"
    --capabilities CAPABILITY_IAM
    --no-fail-on-empty-changeset
    --parameter-overrides "${overrides[@]}"
)

if [ ! -f "$CONFIG_FILE" ]; then
    step "First deploy: sam deploy --guided"
    cat <<EOF
Answer the prompts (Enter keeps the default shown):
  - Stack Name '$stack_name' and AWS Region '$region': keep them (the image was pushed to $region).
  - Parameter WorkerImage: keep the default (the image just pushed).
  - Parameter Subnets: subnet ids separated by commas, e.g. subnet-0123abcd,subnet-4567ef01
    (with AssignPublicIp=ENABLED public subnets; with DISABLED private subnets behind a NAT gateway).
  - Parameter VpcId: the VPC of those subnets.
  - "ApiFunction has no authentication / may not have authorization defined, Is this okay?": y
    (the API checks X-API-Key itself).
  - Allow SAM CLI IAM role creation: Y.  Save arguments to configuration file: Y (samconfig.toml, 'default').
EOF
    sam deploy --guided "${deploy_args[@]}"
    # The answers may differ from the defaults offered: read them back.
    saved_stack="$(config_value stack_name)"
    saved_region="$(config_value region)"
    stack_name="${saved_stack:-$stack_name}"
    if [ -n "$saved_region" ] && [ "$saved_region" != "$region" ]; then
        die "the stack went to $saved_region but the worker image is in $region: run 'make deploy' again (it builds the image in $saved_region)."
    fi
else
    step "sam deploy (settings from $CONFIG_FILE)"
    sam deploy "${deploy_args[@]}"
fi

# ---------------------------------------------------------------- 4. first admin key, URL

step "Admin key"
"$PY" -m infra.bootstrap_admin --stack-name "$stack_name" --region "$region"

api_url="$(aws cloudformation describe-stacks --region "$region" --stack-name "$stack_name" \
    --query "Stacks[0].Outputs[?OutputKey=='ApiUrl'].OutputValue" --output text)"
step "Deployed"
echo "API URL: $api_url"
echo "Try:     curl ${api_url}health"
