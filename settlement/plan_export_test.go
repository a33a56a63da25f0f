package settlement

// Plan exposes the ordering of instructions (without modes) to the tests.
var Plan = plan
