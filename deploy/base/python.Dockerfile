# The local stand-in for the official python:3.11-slim (which cannot be pulled on a machine with
# no registry access): Debian bookworm's own python3.11 on a debootstrap minbase root filesystem
# (`make images` imports it as localhost/bookworm-minbase). Anywhere a registry is reachable the
# Dockerfile's default BASE=python:3.11-slim is used instead and this file is not needed.
ARG MINBASE=localhost/bookworm-minbase
FROM ${MINBASE}
ENV LANG=C.UTF-8
# debootstrap's sources list has bookworm alone: add its security and stable updates, as the
# official image's Debian has them.
RUN echo 'deb http://deb.debian.org/debian bookworm-updates main' >> /etc/apt/sources.list \
    && echo 'deb http://deb.debian.org/debian-security bookworm-security main' >> /etc/apt/sources.list \
    && apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        python3.11 python3.11-venv ca-certificates \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
        /usr/share/doc/* /usr/share/man/* /usr/share/info/* \
    && ln -s python3.11 /usr/bin/python \
    && python3.11 --version
