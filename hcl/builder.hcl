# The default albatros builder: a parameterized batch job that clones the
# repository at the dispatched commit and runs its `.albatros` script.
#
#   nomad namespace apply ci
#   nomad job run -namespace=ci hcl/builder.hcl
#
# albatros dispatches it with meta REPO_URL, COMMIT, BRANCH, FLAVOR and, for
# trusted senders only, the repository's `inject` secrets as the payload,
# written to /var/run/secrets/albatros/secret.txt (SECRET_PATH).  One
# attempt per build: a failure is reported, never retried behind the
# developer's back.
job "builder" {
  namespace   = "ci"
  type        = "batch"
  datacenters = ["*"]

  parameterized {
    payload       = "optional"
    meta_required = ["REPO_URL", "COMMIT", "BRANCH", "FLAVOR"]
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
      driver = "docker"

      config {
        image   = "debian:bookworm"
        command = "/bin/sh"
        args    = ["${NOMAD_TASK_DIR}/build.sh"]
        mount {
          type     = "bind"
          source   = "local"
          target   = "/var/run/secrets/albatros"
          readonly = true
        }
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
        SECRET_PATH = "/var/run/secrets/albatros/secret.txt"
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
          git init -q /build && cd /build
          git fetch -q --depth 1 "$REPO_URL" "$COMMIT"
          git checkout -q FETCH_HEAD
          exec ./.albatros
        EOT
      }

      logs {
        max_files     = 5
        max_file_size = 10
      }

      resources {
        cpu    = 1000
        memory = 1024
      }
    }
  }
}
