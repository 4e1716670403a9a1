package googletest

import "encoding/json"

func jsonUnmarshal(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return &apiErr{400, "Invalid JSON payload received. " + err.Error()}
	}
	return nil
}
