#!/bin/sh
# First start: a data directory, the root password, the database and its user (set up on
# a server that listens on its socket only), then the server on every interface.
set -eu
if [ "${1:-}" = mariadbd ] && [ "$(id -u)" = 0 ]; then
  root_pw="${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}"
  db="${MARIADB_DATABASE:-${MYSQL_DATABASE:-}}"
  user="${MARIADB_USER:-${MYSQL_USER:-}}"
  user_pw="${MARIADB_PASSWORD:-${MYSQL_PASSWORD:-}}"
  mkdir -p /var/lib/mysql /run/mysqld
  chown -R mysql:mysql /var/lib/mysql /run/mysqld
  if [ ! -d /var/lib/mysql/mysql ]; then
    : "${root_pw:?MARIADB_ROOT_PASSWORD is required}"
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql --skip-test-db >/dev/null
    mariadbd --user=mysql --skip-networking --socket=/run/mysqld/mysqld.sock &
    for _ in $(seq 1 60); do mariadb-admin --socket=/run/mysqld/mysqld.sock ping >/dev/null 2>&1 && break; sleep 0.5; done
    q() { printf '%s' "$1" | sed "s/'/''/g"; }
    {
      echo "CREATE USER 'root'@'%' IDENTIFIED BY '$(q "$root_pw")';"
      echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
      echo "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('$(q "$root_pw")');"
      [ -z "$db" ] || echo "CREATE DATABASE IF NOT EXISTS \`$db\`;"
      if [ -n "$user" ]; then
        echo "CREATE USER '$(q "$user")'@'%' IDENTIFIED BY '$(q "$user_pw")';"
        [ -z "$db" ] || echo "GRANT ALL ON \`$db\`.* TO '$(q "$user")'@'%';"
      fi
      echo "FLUSH PRIVILEGES;"
    } | mariadb --socket=/run/mysqld/mysqld.sock -uroot
    mariadb-admin --socket=/run/mysqld/mysqld.sock -uroot shutdown
    wait
  fi
  shift
  exec mariadbd --user=mysql --bind-address=0.0.0.0 "$@"
fi
exec "$@"
