#!/usr/bin/env bash
# Installs (when missing) and starts PostgreSQL 15 and MariaDB from Debian's packages on
# loopback, with a `matrixai` user that may create databases, for the indexer's tests. Prints the
# environment the tests read; `scripts/test.sh` evaluates it. Idempotent.
set -euo pipefail
need=()
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
command -v mariadbd >/dev/null 2>&1 || need+=(mariadb-server)
if ((${#need[@]})); then
	echo "installing ${need[*]}" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2
fi

# PostgreSQL: Debian's cluster, listening on 127.0.0.1 only.
cluster="$(pg_lsclusters --no-header | awk 'NR == 1 { print $1 " " $2 }')"
read -r pg_version pg_name <<<"$cluster"
if ! pg_lsclusters --no-header | awk 'NR == 1 { exit $4 == "online" ? 0 : 1 }'; then
	pg_ctlcluster "$pg_version" "$pg_name" start -- -o "-c listen_addresses=127.0.0.1" >&2
fi
pg_port="$(pg_lsclusters --no-header | awk 'NR == 1 { print $3 }')"
su postgres -c "psql -q -p $pg_port -tc \"SELECT 1 FROM pg_roles WHERE rolname = 'matrixai'\"" | grep -q 1 ||
	su postgres -c "psql -q -p $pg_port -c \"CREATE ROLE matrixai LOGIN CREATEDB PASSWORD 'matrixai'\"" >&2

# MariaDB: started directly (containers have no init system), on 127.0.0.1 only.
if ! mariadb-admin --protocol=socket ping >/dev/null 2>&1; then
	mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
	(mariadbd-safe --bind-address=127.0.0.1 --port=3306 >/dev/null 2>&1 &)
	for _ in $(seq 1 60); do
		mariadb-admin --protocol=socket ping >/dev/null 2>&1 && break
		sleep 0.5
	done
fi
mariadb --protocol=socket -e "CREATE USER IF NOT EXISTS 'matrixai'@'127.0.0.1' IDENTIFIED BY 'matrixai'; GRANT ALL PRIVILEGES ON *.* TO 'matrixai'@'127.0.0.1'; FLUSH PRIVILEGES;" >&2

echo "export MATRIXAI_TEST_POSTGRES=postgres://matrixai:matrixai@127.0.0.1:$pg_port/postgres"
echo "export MATRIXAI_TEST_MYSQL=mysql://matrixai:matrixai@127.0.0.1:3306/mysql"
