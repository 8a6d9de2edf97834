//! The servers' own load, from their Prometheus `/metrics`: running + waiting requests.
//! Only the needed lines are read; labels, comments and other metrics are skipped.

/// Metric names whose values (summed over label sets) make up a server's load.
const LOAD_METRICS: [&str; 6] = [
    "vllm:num_requests_running",
    "vllm:num_requests_waiting",
    "sglang:num_running_reqs",
    "sglang:num_queue_reqs",
    "llamacpp:requests_processing",
    "llamacpp:requests_deferred",
];

/// Running + waiting requests, or `None` when the text has none of the known metrics.
pub fn load(text: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut found = false;
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name_end = line
            .find(|c: char| c == '{' || c.is_whitespace())
            .unwrap_or(line.len());
        if !LOAD_METRICS.contains(&&line[..name_end]) {
            continue;
        }
        // Value follows the label set (which may hold spaces inside quotes).
        let after_labels = match line[name_end..].strip_prefix('{') {
            Some(labels) => match closing_brace(labels) {
                Some(i) => &labels[i + 1..],
                None => continue,
            },
            None => &line[name_end..],
        };
        let Some(value) = after_labels
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        else {
            continue;
        };
        if value.is_finite() && value >= 0.0 {
            // Finite values can still sum past f64::MAX: a load stays a finite number.
            total = (total + value).min(f64::MAX);
            found = true;
        }
    }
    found.then_some(total)
}

/// Index of the `}` closing a label set, skipping quoted values.
fn closing_brace(labels: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in labels.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_servers_load() {
        let vllm = "# HELP vllm:num_requests_running Number of requests in model execution batches.\n# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{engine=\"0\",model_name=\"Qwen/Qwen3-8B\"} 3.0\nvllm:num_requests_waiting{engine=\"0\",model_name=\"Qwen/Qwen3-8B\"} 2.0\nvllm:gpu_cache_usage_perc{model_name=\"x\"} 0.5\n";
        assert_eq!(load(vllm), Some(5.0));
        let sglang = "sglang:num_running_reqs{model_name=\"m\",tp_rank=\"0\"} 4\nsglang:num_queue_reqs{model_name=\"m\"} 1\n";
        assert_eq!(load(sglang), Some(5.0));
        let llama = "# TYPE llamacpp:requests_processing gauge\nllamacpp:requests_processing 1\nllamacpp:requests_deferred 0\nllamacpp:tokens_predicted_total 99\n";
        assert_eq!(load(llama), Some(1.0));
        let tricky = "vllm:num_requests_running{model_name=\"a} b\",x=\"\\\"\"} 7 1700000000\n";
        assert_eq!(load(tricky), Some(7.0));
        assert_eq!(load("other_metric 5\n"), None);
        assert_eq!(load("vllm:num_requests_running NaN\n"), None);
        assert_eq!(load(""), None);
    }

    /// Found by the `metrics` fuzz target: two huge finite values summed to infinity.
    #[test]
    fn huge_values_sum_to_a_finite_load() {
        let text = "vllm:num_requests_running 1e308\nvllm:num_requests_waiting 1e308\n";
        assert_eq!(load(text), Some(f64::MAX));
    }
}
