# The default albatros builder: a parameterized batch job that clones the
# repository at the dispatched commit and runs its `.albatros` script, under
# `timeout`, in a docker image (Debian unless the IMAGE meta or the `image`
# variable says otherwise).
#
#   nomad namespace apply ci
#   nomad job run hcl/builder.hcl
#   nomad job run -var id=builder-alpine -var image=alpine:3.20 hcl/builder.hcl
#   nomad job run -var driver=raw_exec hcl/builder.hcl     (one machine, no docker)
#
# albatros dispatches it with meta REPO_URL, COMMIT, BRANCH, FLAVOR and, for
# trusted senders only, the repository's `inject` secrets as the payload,
# written to /var/run/secrets/albatros/secret.txt (SECRET_PATH; under
# raw_exec, the task directory's secret.txt).  IMAGE, optional, names the
# docker image of one build.  One attempt per build: a failure is reported,
# never retried behind the developer's back.  A build that runs longer than
# `timeout` is killed and ends with exit code 124 (a failure).

variable "id" {
  type        = string
  default     = "builder"
  description = "The job ID: one per flavor (config.flavors maps a flavor to it)."
}

variable "driver" {
  type        = string
  default     = "docker"
  description = "docker, or raw_exec where the machine's sh and git run the build."
}

variable "image" {
  type        = string
  default     = "debian:bookworm"
  description = "The docker image when the dispatch gives no IMAGE meta."
}

variable "timeout" {
  type        = string
  default     = "1h"
  description = "The longest a build may run, as timeout(1) reads it: 90s, 30m, 2h."
}

variable "cpu" {
  type        = number
  default     = 1000
  description = "MHz reserved for a build."
}

variable "memory" {
  type        = number
  default     = 1024
  description = "MiB a build may use; the task is killed past it."
}

job "builder" {
  id          = var.id
  namespace   = "ci"
  type        = "batch"
  datacenters = ["*"]

  parameterized {
    payload       = "optional"
    meta_required = ["REPO_URL", "COMMIT", "BRANCH", "FLAVOR"]
    meta_optional = ["IMAGE"]
  }

  # The dispatch's IMAGE, when given, wins over this one.
  meta {
    IMAGE = var.image
  }

  reschedule {
    attempts  = 0
    unlimited = false
  }

  group "runner" {
    restart {
      attempts = 0
      mode     = "fail"
    }

    task "executor" {
      driver = var.driver

      config {
        image   = var.driver == "docker" ? "${NOMAD_META_IMAGE}" : null
        volumes = var.driver == "docker" ? ["local:/var/run/secrets/albatros:ro"] : null
        command = "/bin/sh"
        args    = ["${NOMAD_TASK_DIR}/build.sh"]
      }

      # The dispatch payload (the secrets) lands in local/secret.txt.
      dispatch_payload {
        file = "secret.txt"
      }

      env {
        REPO_URL    = "${NOMAD_META_REPO_URL}"
        COMMIT      = "${NOMAD_META_COMMIT}"
        BRANCH      = "${NOMAD_META_BRANCH}"
        FLAVOR      = "${NOMAD_META_FLAVOR}"
        SECRET_PATH = var.driver == "docker" ? "/var/run/secrets/albatros/secret.txt" : "${NOMAD_TASK_DIR}/secret.txt"
      }

      # Meta arrive as data: quoted, never evaluated by the shell.
      template {
        destination = "local/build.sh"
        perms       = "0755"
        data        = <<-EOT
          set -eu
          export DEBIAN_FRONTEND=noninteractive
          command -v git >/dev/null || { apt-get update -qq && apt-get install -y -qq git ca-certificates >/dev/null; }
          [ -s "$SECRET_PATH" ] || unset SECRET_PATH
          git init -q "$NOMAD_TASK_DIR/src" && cd "$NOMAD_TASK_DIR/src"
          git fetch -q --depth 1 "$REPO_URL" "$COMMIT"
          git checkout -q FETCH_HEAD
          rc=0
          timeout -k 10s ${var.timeout} ./.albatros || rc=$?
          [ "$rc" -ne 124 ] || echo "albatros: the build ran longer than ${var.timeout}: killed" >&2
          exit "$rc"
        EOT
      }

      kill_timeout = "15s"

      logs {
        max_files     = 5
        max_file_size = 10
      }

      resources {
        cpu    = var.cpu
        memory = var.memory
      }
    }
  }
}
