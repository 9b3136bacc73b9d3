import { describe, expect, test } from "bun:test";
import { engineAddress } from "../../src/docker/connect.ts";

describe("engineAddress", () => {
  test("defaults to the local unix socket", () => {
    expect(engineAddress(undefined, {})).toEqual({ socketPath: "/var/run/docker.sock", description: "unix:///var/run/docker.sock" });
  });

  test("DOCKER_HOST is used when nothing is configured", () => {
    expect(engineAddress(undefined, { DOCKER_HOST: "unix:///run/user/1000/docker.sock" }).socketPath).toBe("/run/user/1000/docker.sock");
  });

  test("the configured host wins over DOCKER_HOST", () => {
    const a = engineAddress("unix:///custom.sock", { DOCKER_HOST: "tcp://10.0.0.1:2375" });
    expect(a.socketPath).toBe("/custom.sock");
    expect(a.host).toBeUndefined();
  });

  test("an empty configured host falls back to DOCKER_HOST", () => {
    expect(engineAddress("", { DOCKER_HOST: "unix:///x.sock" }).socketPath).toBe("/x.sock");
  });

  test("tcp:// is plain http on 2375 by default", () => {
    expect(engineAddress("tcp://10.0.0.1", {})).toEqual({ host: "10.0.0.1", port: 2375, protocol: "http", description: "tcp://10.0.0.1" });
    expect(engineAddress("tcp://docker.local:4000", {})).toMatchObject({ host: "docker.local", port: 4000, protocol: "http" });
  });

  test("tcp:// uses https with DOCKER_TLS_VERIFY=1 or on port 2376", () => {
    expect(engineAddress("tcp://10.0.0.1", { DOCKER_TLS_VERIFY: "1" })).toMatchObject({ port: 2376, protocol: "https" });
    expect(engineAddress("tcp://10.0.0.1:2376", {})).toMatchObject({ port: 2376, protocol: "https" });
  });

  test("ssh:// keeps the user and defaults to port 22", () => {
    expect(engineAddress("ssh://me@build-box", {})).toEqual({ host: "build-box", port: 22, protocol: "ssh", username: "me", description: "ssh://me@build-box" });
    const noUser = engineAddress("ssh://build-box:2222", {});
    expect(noUser).toMatchObject({ host: "build-box", port: 2222, protocol: "ssh" });
    expect("username" in noUser).toBe(false);
  });

  test("other schemes are refused with a message naming what works", () => {
    expect(() => engineAddress("http://10.0.0.1:2375", {})).toThrow(/unix:\/\/, tcp:\/\/ or ssh:\/\//);
    expect(() => engineAddress("npipe:////./pipe/docker_engine", {})).toThrow(/unsupported docker host/);
  });
});
