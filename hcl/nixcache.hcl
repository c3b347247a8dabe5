# The NixOS builder: the albatros builder contract (meta REPO_URL, COMMIT,
# BRANCH, FLAVOR; the `inject` secrets as the optional payload; group
# "runner", task "executor"; one attempt), with a nix store kept on the host
# between builds, so that `nix build` in `.albatros` reuses what earlier
# builds fetched and built.
#
#   nomad job run hcl/nixcache.hcl
#   config.flavors: {"nix": "builder-nix"}
#
# The store lives at /var/cache/albatros on the client (the host's docker
# creates it when missing: the docker plugin needs `volumes { enabled =
# true }`); four tasks share it:
#   seed       (prestart) fills an empty store from the image's own /nix;
#   nix-daemon (prestart sidecar) the only writer while the build runs:
#              the store mounted read-write, keep-derivations and
#              keep-outputs on, its socket in the store's
#              var/nix/daemon-socket;
#   executor   the build: the store mounted READ-ONLY at /nix, NIX_REMOTE
#              =daemon, so every write goes through the daemon's socket;
#              the build's `result*` links are listed in the alloc dir;
#   gc         (poststop) makes each listed output a gcroot
#              (gcroots/albatros/<commit>-<n>, with its derivation, by
#              keep-derivations), deletes the gcroots older than 7 days,
#              then runs `nix store gc`.
# Runs on docker only (nix is not on the test machines): `nomad job
# validate` and test/hcl.bats check it.

variable "id" {
  type    = string
  default = "builder-nix"
}

variable "image" {
  type    = string
  default = "nixos/nix:2.18.1"
}

variable "store" {
  type        = string
  default     = "/var/cache/albatros"
  description = "The host directory holding the persisted /nix."
}

variable "timeout" {
  type    = string
  default = "2h"
}

variable "cpu" {
  type    = number
  default = 2000
}

variable "memory" {
  type    = number
  default = 4096
}

job "builder-nix" {
  id          = var.id
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

    task "seed" {
      driver = "docker"

      lifecycle {
        hook = "prestart"
      }

      config {
        image   = var.image
        volumes = ["${var.store}:/cache"]
        command = "/bin/sh"
        args    = ["-c", "[ -d /cache/store ] || cp -a /nix/. /cache/"]
      }

      resources {
        cpu    = 100
        memory = 128
      }
    }

    task "nix-daemon" {
      driver = "docker"

      lifecycle {
        hook    = "prestart"
        sidecar = true
      }

      config {
        image   = var.image
        volumes = ["${var.store}:/nix"]
        command = "/bin/sh"
        args = ["-c", <<-EOT
          mkdir -p /etc/nix /nix/var/nix/daemon-socket
          printf '%s\n' 'build-users-group =' 'sandbox = false' \
            'keep-derivations = true' 'keep-outputs = true' \
            'experimental-features = nix-command flakes' >/etc/nix/nix.conf
          exec nix-daemon
        EOT
        ]
      }

      resources {
        cpu    = 200
        memory = 256
      }
    }

    task "executor" {
      driver = "docker"

      config {
        image   = var.image
        command = "/bin/sh"
        args    = ["${NOMAD_TASK_DIR}/build.sh"]
        volumes = [
          "${var.store}:/nix:ro",
          "local:/var/run/secrets/albatros:ro",
        ]
      }

      dispatch_payload {
        file = "secret.txt"
      }

      env {
        REPO_URL    = "${NOMAD_META_REPO_URL}"
        COMMIT      = "${NOMAD_META_COMMIT}"
        BRANCH      = "${NOMAD_META_BRANCH}"
        FLAVOR      = "${NOMAD_META_FLAVOR}"
        SECRET_PATH = "/var/run/secrets/albatros/secret.txt"
        NIX_REMOTE  = "daemon"
        NIX_CONFIG  = "experimental-features = nix-command flakes"
      }

      # Meta arrive as data: quoted, never evaluated by the shell.
      template {
        destination = "local/build.sh"
        perms       = "0755"
        data        = <<-EOT
          set -eu
          [ -s "$SECRET_PATH" ] || unset SECRET_PATH
          # The daemon's socket appears in the shared store once it runs.
          i=0
          while [ ! -S /nix/var/nix/daemon-socket/socket ] && [ $i -lt 60 ]; do sleep 1; i=$((i + 1)); done
          src=$NOMAD_TASK_DIR/src
          nix-shell -p git --run "git init -q '$src' && cd '$src' && git fetch -q --depth 1 \"\$REPO_URL\" \"\$COMMIT\" && git checkout -q FETCH_HEAD"
          cd "$src"
          rc=0
          timeout -k 10s ${var.timeout} ./.albatros || rc=$?
          [ "$rc" -ne 124 ] || echo "albatros: the build ran longer than ${var.timeout}: killed" >&2
          for l in result*; do [ -L "$l" ] && readlink "$l"; done >"$NOMAD_ALLOC_DIR/gcroots" || true
          exit "$rc"
        EOT
      }

      logs {
        max_files     = 5
        max_file_size = 10
      }

      resources {
        cpu    = var.cpu
        memory = var.memory
      }
    }

    task "gc" {
      driver = "docker"

      lifecycle {
        hook = "poststop"
      }

      config {
        image   = var.image
        volumes = ["${var.store}:/nix"]
        command = "/bin/sh"
        args = ["-c", <<-EOT
          set -u
          mkdir -p /etc/nix /nix/var/nix/gcroots/albatros
          printf '%s\n' 'keep-derivations = true' 'keep-outputs = true' \
            'experimental-features = nix-command' >/etc/nix/nix.conf
          n=0
          while read -r p; do
            case $p in /nix/store/*) ;; *) continue ;; esac
            n=$((n + 1))
            nix-store --add-root "/nix/var/nix/gcroots/albatros/$NOMAD_META_COMMIT-$n" --realise "$p" >/dev/null
          done <"$NOMAD_ALLOC_DIR/gcroots"
          find /nix/var/nix/gcroots/albatros -mindepth 1 -maxdepth 1 -mtime +7 -exec rm -f {} +
          nix store gc
        EOT
        ]
      }

      resources {
        cpu    = 200
        memory = 256
      }
    }
  }
}
