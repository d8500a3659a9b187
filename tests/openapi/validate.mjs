// validate.mjs FILE... - checks each OpenAPI document against the
// specification's JSON schema of its version (@seriousme/openapi-schema-
// validator, which ships the OpenAPI Initiative's schemas and checks them
// with Ajv). Exits 1, naming the first errors, when one is not valid.
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";

let bad = 0;
for (const file of process.argv.slice(2)) {
	const validator = new Validator();
	const doc = JSON.parse(readFileSync(file, "utf8"));
	const res = await validator.validate(doc);
	if (validator.version !== "3.1") {
		console.error(`${file}: OpenAPI ${validator.version}, want 3.1`);
		bad = 1;
	} else if (!res.valid) {
		console.error(`${file}: not valid OpenAPI 3.1:`);
		console.error(JSON.stringify(res.errors, null, 1).slice(0, 3000));
		bad = 1;
	} else {
		console.log(`${file}: valid OpenAPI ${validator.version}`);
	}
}
process.exit(bad);
