// kstatus prints what sigs.k8s.io/cli-utils' kstatus (the library Flux, kpt and cli-utils
// appliers use) concludes about one object read as JSON from stdin:
// {"status": "Current|InProgress|Failed|Terminating|...", "message": "..."}.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	object := &unstructured.Unstructured{}
	if err := object.UnmarshalJSON(data); err != nil { // numbers as int64, as the API serves them
		fail(err)
	}
	result, err := status.Compute(object)
	if err != nil {
		fail(err)
	}
	out, err := json.Marshal(map[string]string{"status": result.Status.String(), "message": result.Message})
	if err != nil {
		fail(err)
	}
	fmt.Println(string(out))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kstatus:", err)
	os.Exit(1)
}
