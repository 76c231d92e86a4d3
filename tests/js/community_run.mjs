/**
 * Runs tests/js/community_cases.mjs over the cases in the JSON file named by argv[2] and prints
 * the verdicts as one JSON array (tests/commerce/test_community_js.py).
 */

import { readFileSync } from "node:fs";

import { runCases } from "./community_cases.mjs";

const cases = JSON.parse(readFileSync(process.argv[2], "utf-8")).cases;
process.stdout.write(JSON.stringify(await runCases(cases)));
