# albatros's reconciliation, alba-status -S, as a periodic Nomad job: every
# ten minutes the builds of the builder whose end the forge does not show
# yet (albatros was down, a report failed) are reported.  Workload identity
# only, as hcl/albatros.hcl:
#
#   nomad acl policy apply -namespace albatros -job albatros-sync albatros-sync hcl/albatros.policy.hcl
#   nomad job run hcl/albatros-sync.hcl
#   nomad job run -var driver=raw_exec -var bindir=$PWD/dist/bin hcl/albatros-sync.hcl

variable "driver" {
  type    = string
  default = "docker"
}

variable "image" {
  type    = string
  default = "albatros:0.1.0"
}

variable "bindir" {
  type    = string
  default = "/usr/local/bin"
}

variable "builds_namespace" {
  type    = string
  default = "ci"
}

variable "builder" {
  type        = string
  default     = "builder"
  description = "The builder whose builds are reconciled."
}

variable "cron" {
  type    = string
  default = "*/10 * * * *"
}

variable "consul_addr" {
  type    = string
  default = "127.0.0.1:8500"
}

variable "albatros_url" {
  type    = string
  default = ""
}

job "albatros-sync" {
  namespace   = "albatros"
  type        = "batch"
  datacenters = ["*"]

  periodic {
    crons            = [var.cron]
    prohibit_overlap = true
  }

  group "sync" {
    restart {
      attempts = 0
      mode     = "fail"
    }

    task "sync" {
      driver = var.driver

      identity {
        env = true
      }

      config {
        image   = var.driver == "docker" ? var.image : null
        command = "${var.bindir}/alba-status"
        args    = ["-S", "-b", var.builder, "-N", var.builds_namespace]
      }

      env {
        NOMAD_ADDR       = "unix://${NOMAD_SECRETS_DIR}/api.sock"
        CONSUL_HTTP_ADDR = var.consul_addr
        ALBATROS_URL     = var.albatros_url
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
