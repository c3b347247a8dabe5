#!/usr/bin/env bats
# HCL job specs through HashiCorp's parser (npm @cdktf/hcl2json) and
# test/emu/hcl2nomad.py onto Nomad's JSON job.

load helpers

H2N() { python3 "$TOP/test/emu/hcl2nomad.py" "$@"; }
H2J() { node "$TOP/test/emu/hcl2json.js" "$@"; }

setup() {
	[ -d "$TOP/test/node/node_modules/@cdktf/hcl2json" ] || [ -n "${HCL2JSON_NODE_PATH:-}" ] || {
		echo "missing: npm install --prefix test/node @cdktf/hcl2json" >&2
		return 1
	}
}

@test "fixture builder: parameterized batch job with the albatros contract" {
	run H2N "$TOP/test/fixtures/builder-test.hcl"
	assert_success
	echo "$output" >"$BATS_TEST_TMPDIR/job.json"
	J=$BATS_TEST_TMPDIR/job.json
	run jq -c '.Job | {ID, Name, Type, Datacenters}' "$J"
	assert_output '{"ID":"builder","Name":"builder","Type":"batch","Datacenters":["dc1"]}'
	run jq -c '.Job.ParameterizedJob' "$J"
	assert_output '{"Payload":"optional","MetaRequired":["REPO_URL","COMMIT","BRANCH","FLAVOR"],"MetaOptional":["PR"]}'
	run jq -c '.Job.TaskGroups[] | {Name, Count, r: .RestartPolicy.Attempts, rs: .ReschedulePolicy.Attempts, u: .ReschedulePolicy.Unlimited, t: [.Tasks[].Name]}' "$J"
	assert_output '{"Name":"runner","Count":1,"r":0,"rs":0,"u":false,"t":["executor"]}'
	run jq -c '.Job.TaskGroups[0].Tasks[0] | {Driver, DispatchPayload, cmd: .Config.command, lc: .LogConfig.MaxFiles}' "$J"
	assert_output '{"Driver":"raw_exec","DispatchPayload":{"File":"secret.txt"},"cmd":"/bin/sh","lc":2}'
	# run-time interpolations stay strings for Nomad to resolve
	run jq -r '.Job.TaskGroups[0].Tasks[0].Env.SECRET_PATH' "$J"
	assert_output '${NOMAD_SECRETS_DIR}/secret.txt'
}

@test "syntax error: exit 1 with file and line" {
	printf 'job "x" {\n  type = \n}\n' >"$BATS_TEST_TMPDIR/bad.hcl"
	run H2N "$BATS_TEST_TMPDIR/bad.hcl"
	assert_failure 1
	assert_output --partial "bad.hcl"
	assert_output --regexp 'bad\.hcl:2'
	printf 'job "x" {\n  group "g" {\n' >"$BATS_TEST_TMPDIR/unclosed.hcl"
	run H2N "$BATS_TEST_TMPDIR/unclosed.hcl"
	assert_failure 1
}

@test "structure errors: no job, no task, bad duration, bad payload mode" {
	printf 'variable "x" {}\n' >"$BATS_TEST_TMPDIR/a.hcl"
	run H2N "$BATS_TEST_TMPDIR/a.hcl"
	assert_failure 1
	assert_output --partial "exactly one job"
	printf 'job "x" {\n  group "g" {}\n}\n' >"$BATS_TEST_TMPDIR/b.hcl"
	run H2N "$BATS_TEST_TMPDIR/b.hcl"
	assert_failure 1
	assert_output --partial 'has no task'
	cat >"$BATS_TEST_TMPDIR/c.hcl" <<-'EOF'
	job "x" {
	  group "g" {
	    restart { delay = "soon" }
	    task "t" { driver = "docker" }
	  }
	}
	EOF
	run H2N "$BATS_TEST_TMPDIR/c.hcl"
	assert_failure 1
	assert_output --partial 'invalid duration'
	cat >"$BATS_TEST_TMPDIR/d.hcl" <<-'EOF'
	job "x" {
	  parameterized { payload = "sometimes" }
	  group "g" { task "t" { driver = "docker" } }
	}
	EOF
	run H2N "$BATS_TEST_TMPDIR/d.hcl"
	assert_failure 1
	run H2N "$BATS_TEST_TMPDIR/missing.hcl"
	assert_failure 2
}

@test "durations become nanoseconds, docker config and defaults are kept" {
	cat >"$BATS_TEST_TMPDIR/j.hcl" <<-'EOF'
	job "svc" {
	  group "g" {
	    count = 2
	    restart {
	      attempts = 1
	      delay    = "1m30s"
	      interval = "10m"
	    }
	    task "t" {
	      driver = "docker"
	      config {
	        image = "alpine:3"
	        args  = ["sh", "-c", "true"]
	      }
	    }
	  }
	}
	EOF
	run H2N "$BATS_TEST_TMPDIR/j.hcl"
	assert_success
	echo "$output" >"$BATS_TEST_TMPDIR/j.json"
	run jq -c '.Job | {Type, Datacenters, P: .ParameterizedJob, g: (.TaskGroups[0] | {Count, d: .RestartPolicy.Delay, i: .RestartPolicy.Interval, a: .RestartPolicy.Attempts, img: .Tasks[0].Config.image})}' "$BATS_TEST_TMPDIR/j.json"
	assert_output '{"Type":"service","Datacenters":["*"],"P":null,"g":{"Count":2,"d":90000000000,"i":600000000000,"a":1,"img":"alpine:3"}}'
}

@test "shipped hcl/builder.hcl and hcl/demo.hcl parse and meet the builder contract" {
	local f
	for f in builder demo nixcache; do
		H2N "$TOP/hcl/$f.hcl" >"$BATS_TEST_TMPDIR/$f.json"
		run jq -c '.Job | [(.ParameterizedJob.MetaRequired | sort | join(",")),
			.ParameterizedJob.Payload, .Type, .Namespace,
			(.TaskGroups[] | select(.Name == "runner") | .ReschedulePolicy.Attempts,
			.RestartPolicy.Attempts,
			(.Tasks[] | select(.Name == "executor") | .DispatchPayload.File))]' "$BATS_TEST_TMPDIR/$f.json"
		assert_output '["BRANCH,COMMIT,FLAVOR,REPO_URL","optional","batch","ci",0,0,"secret.txt"]'
	done
}

@test "hcl/builder.hcl: the build under timeout, its limits and image job variables, IMAGE optional" {
	H2N "$TOP/hcl/builder.hcl" >"$BATS_TEST_TMPDIR/b.json"
	run jq -c '.Job | [.ID, .ParameterizedJob.MetaOptional, .Meta.IMAGE,
		(.TaskGroups[0].Tasks[0] | .Resources, .Config.command, (.Templates[0].EmbeddedTmpl | test("timeout -k 10s 1h ./.albatros")))]' "$BATS_TEST_TMPDIR/b.json"
	assert_output '["builder",["IMAGE"],"debian:bookworm",{"CPU":1000,"MemoryMB":1024},"/bin/sh",true]'
	# The docker image is the IMAGE meta, whose default is the job's meta.
	H2J "$TOP/hcl/builder.hcl" >"$BATS_TEST_TMPDIR/raw.json"
	run jq -r '.job.builder[0].group.runner[0].task.executor[0].config[0].image' "$BATS_TEST_TMPDIR/raw.json"
	assert_output --partial '${NOMAD_META_IMAGE}'
	run jq -r '.variable | keys | join(",")' "$BATS_TEST_TMPDIR/raw.json"
	assert_output 'cpu,driver,id,image,memory,timeout'
}

@test "hcl/nixcache.hcl: the store read-only in the build, written by the daemon sidecar, gc after" {
	H2J "$TOP/hcl/nixcache.hcl" >"$BATS_TEST_TMPDIR/n.json"
	run jq -c '.job["builder-nix"][0].group.runner[0].task | to_entries | map({(.key): [(.value[0].lifecycle[0] // {} | .hook, .sidecar), .value[0].config[0].volumes]}) | add' "$BATS_TEST_TMPDIR/n.json"
	assert_output '{"executor":[null,null,["${var.store}:/nix:ro","local:/var/run/secrets/albatros:ro"]],"gc":["poststop",null,["${var.store}:/nix"]],"nix-daemon":["prestart",true,["${var.store}:/nix"]],"seed":["prestart",null,["${var.store}:/cache"]]}'
	run jq -r '.variable.store[0].default' "$BATS_TEST_TMPDIR/n.json"
	assert_output /var/cache/albatros
	run jq -r '.job["builder-nix"][0].group.runner[0].task["nix-daemon"][0].config[0].args[1]' "$BATS_TEST_TMPDIR/n.json"
	assert_output --partial 'keep-derivations = true'
	run jq -r '.job["builder-nix"][0].group.runner[0].task.gc[0].config[0].args[1]' "$BATS_TEST_TMPDIR/n.json"
	assert_output --partial '-mtime +7 -exec rm -f'
	assert_output --partial 'nix store gc'
	assert_output --partial 'nix-store --add-root "/nix/var/nix/gcroots/albatros/'
}

@test "hcl/albatros.hcl: two webhook instances with a /health check, one watcher, a periodic sync, workload identity only" {
	H2J "$TOP/hcl/albatros.hcl" >"$BATS_TEST_TMPDIR/a.json"
	run jq -c '.job.albatros[0].group | to_entries | map({(.key): [.value[0].count, (.value[0].task | keys)]}) | add' "$BATS_TEST_TMPDIR/a.json"
	assert_output '{"watcher":[1,["watch"]],"webhook":[2,["serve"]]}'
	run jq -c '.job.albatros[0].group.webhook[0].service[0] | [.name, .port, .check[0].type, .check[0].path]' "$BATS_TEST_TMPDIR/a.json"
	assert_output '["albatros","http","http","/health"]'
	run jq -c '[.job.albatros[0].group[][0].task[][0] | [.identity[0].env, .env[0].NOMAD_ADDR]] | unique' "$BATS_TEST_TMPDIR/a.json"
	assert_output '[[true,"unix://${NOMAD_SECRETS_DIR}/api.sock"]]'
	run jq -c '.job.albatros[0].group.watcher[0].task.watch[0].config[0].args' "$BATS_TEST_TMPDIR/a.json"
	assert_output '["-W","-N","${var.builds_namespace}"]'
	# The watcher reports the builds: the webhook starts no waiter per build,
	# and its socat copies in 64 KiB pieces.
	run jq -c '.job.albatros[0].group.webhook[0].task.serve[0] | [.env[0].ALBA_WATCHER, .config[0].args[0:2]]' "$BATS_TEST_TMPDIR/a.json"
	assert_output '["1",["-b","65536"]]'
	H2J "$TOP/hcl/albatros-sync.hcl" >"$BATS_TEST_TMPDIR/s.json"
	run jq -c '.job["albatros-sync"][0] | [.type, .periodic[0].prohibit_overlap, .group.sync[0].task.sync[0].identity[0].env, .group.sync[0].task.sync[0].config[0].args[0]]' "$BATS_TEST_TMPDIR/s.json"
	assert_output '["batch",true,true,"-S"]'
	# No token in any job file: no NOMAD_TOKEN, no X-Nomad-Token, no secret.
	run grep -nE '^[^#]*(NOMAD_TOKEN|[Tt]oken *=|SecretID)' "$TOP"/hcl/albatros*.hcl
	assert_failure 1
}
