// An image build's own output becomes progress: each step, and inside a step the package lists,
// downloads, unpacking and setting up package k of n (what a first build spends its minutes on).
import { describe, expect, test } from "bun:test";
import { BuildProgress, BUILD_DETAIL_PHASE } from "../../src/docker/build-progress.ts";
import type { ProgressEvent } from "../../src/core/types.ts";

// Lines as the engine's classic builder sends them for the workspace image (apt-get on bookworm).
const OUTPUT = `Step 3/10 : ENV DEBIAN_FRONTEND=noninteractive
 ---> Running in 1a2b3c
Step 4/10 : RUN apt-get update && apt-get install -y --no-install-recommends openssh-server git
 ---> Running in 4d5e6f
Get:1 http://deb.debian.org/debian bookworm InRelease [151 kB]
Get:4 http://deb.debian.org/debian bookworm/main amd64 Packages [8790 kB]
Fetched 15.5 MB in 3s (5120 kB/s)
Reading package lists...
0 upgraded, 2 newly installed, 0 to remove and 0 not upgraded.
Get:1 http://deb.debian.org/debian bookworm/main amd64 libc6 amd64 2.36-9+deb12u9 [2757 kB]
Get:2 http://deb.debian.org/debian bookworm/main amd64 git amd64 1:2.39.5-0+deb12u2 [7264 kB]
Selecting previously unselected package libc6:amd64.
Preparing to unpack .../00-libc6_2.36_amd64.deb ...
Unpacking libc6:amd64 (2.36-9+deb12u9) ...
Unpacking git (1:2.39.5-0+deb12u2) ...
Setting up libc6:amd64 (2.36-9+deb12u9) ...
Setting up git (1:2.39.5-0+deb12u2) ...
Processing triggers for libc-bin (2.36-9+deb12u9) ...
Generating locales (this might take a while)...
Step 5/10 : COPY sshd_config /etc/ssh/sshd_config
`;

function run(chunks: string[]): ProgressEvent[] {
  const out: ProgressEvent[] = [];
  const p = new BuildProgress((e) => out.push(e));
  for (const c of chunks) p.feed(c);
  return out;
}

describe("BuildProgress", () => {
  test("steps, then what apt does inside the step, package k of n", () => {
    expect(run([OUTPUT]).map((e) => `${e.phase === BUILD_DETAIL_PHASE ? "  " : ""}${e.message}`)).toEqual([
      "Step 3/10 : ENV DEBIAN_FRONTEND=noninteractive",
      "Step 4/10 : RUN apt-get update && apt-get install -y --no-install-recommends openssh-server git",
      "  Step 4/10: updating the package lists",
      "  Step 4/10: updating the package lists",
      "  Step 4/10: reading the package lists",
      "  Step 4/10: 2 packages to install",
      "  Step 4/10: downloading libc6 (2757 kB)",
      "  Step 4/10: downloading git (7264 kB)",
      "  Step 4/10: unpacking libc6 (1/2)",
      "  Step 4/10: unpacking git (2/2)",
      "  Step 4/10: setting up libc6 (1/2)",
      "  Step 4/10: setting up git (2/2)",
      "  Step 4/10: processing triggers for libc-bin",
      "  Step 4/10: generating locales",
      "Step 5/10 : COPY sshd_config /etc/ssh/sshd_config",
    ]);
  });

  test("lines split across chunks anywhere come out whole", () => {
    const whole = run([OUTPUT]);
    const pieces: string[] = [];
    for (let i = 0; i < OUTPUT.length; i += 7) pieces.push(OUTPUT.slice(i, i + 7));
    expect(run(pieces)).toEqual(whole);
  });

  test("a long step line is cut to one screen line", () => {
    const [e] = run([`Step 4/10 : RUN ${"x".repeat(300)}\n`]);
    expect(e!.message.length).toBe(120);
    expect(e!.message.endsWith("…")).toBe(true);
  });
});
