// Region names as the IMS console shows them, by region id (the API's FlowRegion). A region of a custom
// catalogue that is not listed here is shown by its id. tests/unit/emulator/test_console_static.py
// keeps this table in step with emulator/regions.py's default catalogue.

export const REGION_LABELS = {
  "ap-southeast-1": "Singapore",
  "eu-central-1": "Germany (Frankfurt)",
  "cn-beijing": "China (Beijing)",
  "me-central-1": "SAU (Riyadh - Partner Region)",
  "cn-shanghai": "China (Shanghai)",
  "cn-hangzhou": "China (Hangzhou)",
  "cn-shenzhen": "China (Shenzhen)",
  "us-west-1": "US (Silicon Valley)",
};

export function regionLabel(id) {
  return REGION_LABELS[id] || id;
}
