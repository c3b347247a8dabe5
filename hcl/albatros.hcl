# albatros itself as a Nomad job: the webhook service (socat and
# alba-serve, two instances, registered in Consul with a /health check) and
# the cluster watcher (alba-status -W, one instance).  The periodic sync is
# hcl/albatros-sync.hcl (a periodic job is a job of its own).
#
# No Nomad token anywhere: each task gets its workload identity
# (identity { env = true } puts it in NOMAD_TOKEN) and talks to Nomad
# through the task API socket of its client (NOMAD_ADDR=unix://...), with
# the rights of the ACL policy attached to this job.  The socket's path
# (<data_dir>/alloc/<alloc ID>/<task>/secrets/api.sock under raw_exec) must
# fit a unix socket address, 107 bytes: a data_dir of at most 40 or so.
#
#   nomad namespace apply albatros
#   nomad acl policy apply -namespace albatros -job albatros albatros hcl/albatros.policy.hcl
#   nomad job run hcl/albatros.hcl                        (docker, the image of scripts/Dockerfile)
#   nomad job run -var driver=raw_exec -var bindir=$PWD/dist/bin hcl/albatros.hcl
#
# The forge tokens and webhook secrets are in each repository's
# configuration in Consul KV, read per request; nothing here is secret.

variable "driver" {
  type        = string
  default     = "docker"
  description = "docker (production, the image below) or raw_exec (albatros installed on the client)."
}

variable "image" {
  type    = string
  default = "albatros:0.1.0"
}

variable "bindir" {
  type        = string
  default     = "/usr/local/bin"
  description = "Where alba-serve and alba-* are (in the image, or on the client under raw_exec); socat is found on PATH."
}

variable "builds_namespace" {
  type        = string
  default     = "ci"
  description = "The builders' namespace: the policy's, and the one the watcher follows."
}

variable "consul_addr" {
  type        = string
  default     = "127.0.0.1:8500"
  description = "Consul's HTTP address as the tasks reach it (the configurations)."
}

variable "albatros_url" {
  type        = string
  default     = ""
  description = "The public base URL of the webhook service, for the commit statuses' links."
}

variable "port" {
  type        = number
  default     = 0
  description = "A static port for the webhook service; 0: one Nomad chooses per instance."
}

variable "max_connections" {
  type    = number
  default = 32
}

variable "service_provider" {
  type    = string
  default = "consul"
}

job "albatros" {
  namespace   = "albatros"
  type        = "service"
  datacenters = ["*"]

  group "webhook" {
    count = 2

    network {
      port "http" {
        static = var.port
      }
    }

    service {
      name     = "albatros"
      port     = "http"
      provider = var.service_provider

      check {
        type     = "http"
        path     = "/health"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "serve" {
      driver = var.driver

      identity {
        env = true
      }

      config {
        image   = var.driver == "docker" ? var.image : null
        command = "socat"
        args = [
          "-b", "65536",
          "TCP-LISTEN:${NOMAD_PORT_http},reuseaddr,fork,max-children=${var.max_connections}",
          "EXEC:${var.bindir}/alba-serve",
        ]
      }

      env {
        NOMAD_ADDR       = "unix://${NOMAD_SECRETS_DIR}/api.sock"
        CONSUL_HTTP_ADDR = var.consul_addr
        ALBATROS_URL     = var.albatros_url
        ALBA_BINDIR      = var.bindir
        # The watcher group reports the builds: no waiter per build.
        ALBA_WATCHER     = "1"
        PATH             = "${var.bindir}:/usr/local/bin:/usr/bin:/bin"
      }

      resources {
        cpu    = 200
        memory = 256
      }
    }
  }

  group "watcher" {
    count = 1

    task "watch" {
      driver = var.driver

      identity {
        env = true
      }

      config {
        image   = var.driver == "docker" ? var.image : null
        command = "${var.bindir}/alba-status"
        args    = ["-W", "-N", var.builds_namespace]
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
