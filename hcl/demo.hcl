# A builder to try albatros on one machine: the same contract as
# builder.hcl (meta REPO_URL, COMMIT, BRANCH, FLAVOR; the repository's
# `inject` secrets as the optional payload; task "executor"; one attempt)
# with the raw_exec driver instead of docker, so that it runs on a
# `nomad agent -dev` with raw_exec enabled, and on the Nomad emulator that
# `make demo` starts.  It clones the repository at the dispatched commit
# with the machine's git and runs its `.albatros` script, with SECRET_PATH
# naming the secrets file when there is one.
#
#   nomad namespace apply ci
#   nomad job run -namespace=ci hcl/demo.hcl
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
      driver = "raw_exec"

      # Meta arrive as environment variables: data, never evaluated.
      config {
        command = "/bin/sh"
        args = ["-c", <<-EOT
          set -eu
          SECRET_PATH=$NOMAD_TASK_DIR/secret.txt
          [ -s "$SECRET_PATH" ] || SECRET_PATH=
          export SECRET_PATH
          git init -q "$NOMAD_TASK_DIR/src"
          cd "$NOMAD_TASK_DIR/src"
          git fetch -q --depth 1 "$REPO_URL" "$COMMIT"
          git checkout -q FETCH_HEAD
          exec ./.albatros
        EOT
        ]
      }

      dispatch_payload {
        file = "secret.txt"
      }

      env {
        REPO_URL = "${NOMAD_META_REPO_URL}"
        COMMIT   = "${NOMAD_META_COMMIT}"
        BRANCH   = "${NOMAD_META_BRANCH}"
        FLAVOR   = "${NOMAD_META_FLAVOR}"
      }

      logs {
        max_files     = 5
        max_file_size = 10
      }

      resources {
        cpu    = 200
        memory = 256
      }
    }
  }
}
