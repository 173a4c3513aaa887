// CSV and JSON export (web/export.js): nothing a spreadsheet would run as a formula.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { CSV_COLUMNS, csvCell, exportRows, fileStem, neutralise, toCSV, toJSON } from "../export.js";

describe("neutralise", () => {
  for (const lead of ["=", "+", "-", "@", "\t", "\r"]) {
    it(`prefixes a text that starts with ${JSON.stringify(lead)}`, () => {
      assert.equal(neutralise(`${lead}1+1`), `'${lead}1+1`);
    });
  }
  it("prefixes the classic payloads", () => {
    assert.equal(neutralise('=HYPERLINK("http://x","y")'), `'=HYPERLINK("http://x","y")`);
    assert.equal(neutralise("@SUM(A1)"), "'@SUM(A1)");
    assert.equal(neutralise("-2+3+cmd|' /C calc'!A0"), "'-2+3+cmd|' /C calc'!A0");
    assert.equal(neutralise("--- 127.0.0.1 ping statistics ---"), "'--- 127.0.0.1 ping statistics ---");
  });
  it("leaves numbers alone, negative ones too", () => {
    assert.equal(neutralise(-0.5), -0.5);
    assert.equal(neutralise(12.3), 12.3);
  });
  it("leaves other text, booleans and nothing alone", () => {
    for (const v of ["64 bytes from 127.0.0.1", "", "a=b", " =x", true, null, undefined]) assert.equal(neutralise(v), v);
  });
});

describe("csvCell", () => {
  it("numbers as they are", () => {
    assert.equal(csvCell(-1.25), "-1.25");
    assert.equal(csvCell(0), "0");
  });
  it("nothing as an empty cell", () => {
    assert.equal(csvCell(null), "");
    assert.equal(csvCell(undefined), "");
  });
  it("quotes commas, quotes and line breaks (RFC 4180)", () => {
    assert.equal(csvCell('a,"b"'), '"a,""b"""');
    assert.equal(csvCell("two\nlines"), '"two\nlines"');
  });
  it("neutralises before quoting", () => {
    assert.equal(csvCell('=HYPERLINK("x")'), '"\'=HYPERLINK(""x"")"');
    assert.equal(csvCell("\r=1"), "\"'\r=1\"");
    assert.equal(csvCell("-f"), "'-f");
  });
  it("objects as JSON", () => {
    assert.equal(csvCell({ a: 1 }), '"{""a"":1}"');
  });
});

describe("toCSV", () => {
  const sources = [
    {
      node: "north",
      events: [
        { n: 1, type: "start", t: 0, raw: null, target: "h" },
        { n: 2, type: "reply", t: 1.5, seq: 1, ttl: 64, rtt_ms: 0.04, bytes: 64, from: "127.0.0.1", dup: false, raw: "=cmd" },
        { n: 3, type: "error", t: 2, message: "+bad", raw: null },
      ],
    },
    { node: null, events: [{ type: "line", raw: "@x" }] },
  ];
  const text = toCSV(exportRows(sources));
  const lines = text.split("\r\n");
  it("a header, one line per event, CRLF line ends", () => {
    assert.equal(lines[0], CSV_COLUMNS.join(","));
    assert.equal(lines.length, 1 + 4 + 1);
    assert.equal(lines.at(-1), "");
  });
  it("each event's fields in its columns, time as ISO 8601", () => {
    assert.equal(lines[2], "north,2,reply,1970-01-01T00:00:01.500Z,1.5,1,64,0.04,64,127.0.0.1,false,,'=cmd");
  });
  it("an error's message in the error column, neutralised", () => {
    assert.equal(lines[3].split(",")[11], "'+bad");
  });
  it("the WebSocket's source as an empty node, raw output neutralised", () => {
    assert.equal(lines[4], ",,line,,,,,,,,,,'@x");
  });
});

describe("toJSON and fileStem", () => {
  it("the whole run, with when and what", () => {
    const body = JSON.parse(toJSON({ version: "1.0", mode: "ws", target: "h", request: { target: "h" }, sources: [], now: new Date(0) }));
    assert.deepEqual(body, { pingu: "1.0", mode: "ws", exported: "1970-01-01T00:00:00.000Z", target: "h", request: { target: "h" }, sources: [] });
  });
  it("a file name safe for any file system", () => {
    assert.equal(fileStem("127.0.0.1", new Date(Date.UTC(2024, 0, 2, 3, 4, 5))), "pingu-127.0.0.1-20240102-030405");
    assert.equal(fileStem("a/b:c d", new Date(0)), "pingu-a_b_c_d-19700101-000000");
  });
});
