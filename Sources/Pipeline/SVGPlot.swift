import Foundation

/// A line chart as SVG text: one polyline with markers per series, a dashed reference line, axes with ticks, a legend.
struct SVGPlot {
    struct Series { var name: String; var points: [(x: Double, y: Double)] }

    var title: String, xLabel: String, yLabel: String
    var series: [Series]
    var reference: (label: String, y: Double)?

    private static let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    var text: String {
        let width = 760.0, height = 440.0, left = 70.0, right = 230.0, top = 40.0, bottom = 60.0
        let xs = series.flatMap { $0.points.map(\.x) }, ys = series.flatMap { $0.points.map(\.y) } + (reference.map { [$0.y] } ?? [])
        let (x0, x1) = SVGPlot.span(xs), (y0, y1) = SVGPlot.span(ys)
        func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * (width - left - right) }
        func py(_ y: Double) -> Double { height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom) }
        func number(_ v: Double) -> String { String(format: "%.1f", v) }
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(number(width / 2 - right / 2))" y="22" text-anchor="middle" font-size="15">\(SVGPlot.escape(title))</text>
        <line x1="\(left)" y1="\(height - bottom)" x2="\(width - right)" y2="\(height - bottom)" stroke="black"/>
        <line x1="\(left)" y1="\(top)" x2="\(left)" y2="\(height - bottom)" stroke="black"/>

        """
        for i in 0...5 {
            let x = x0 + (x1 - x0) * Double(i) / 5, y = y0 + (y1 - y0) * Double(i) / 5
            svg += "<text x=\"\(number(px(x)))\" y=\"\(number(height - bottom + 18))\" text-anchor=\"middle\">\(String(format: "%.2f", x))</text>\n"
            svg += "<line x1=\"\(left)\" y1=\"\(number(py(y)))\" x2=\"\(width - right)\" y2=\"\(number(py(y)))\" stroke=\"#e0e0e0\"/>\n"
            svg += "<text x=\"\(left - 8)\" y=\"\(number(py(y) + 4))\" text-anchor=\"end\">\(String(format: "%.1f", y))</text>\n"
        }
        svg += "<text x=\"\(number((left + width - right) / 2))\" y=\"\(height - 18)\" text-anchor=\"middle\">\(SVGPlot.escape(xLabel))</text>\n"
        svg += "<text transform=\"translate(20 \(number((top + height - bottom) / 2))) rotate(-90)\" text-anchor=\"middle\">\(SVGPlot.escape(yLabel))</text>\n"
        if let reference {
            svg += "<line x1=\"\(left)\" y1=\"\(number(py(reference.y)))\" x2=\"\(width - right)\" y2=\"\(number(py(reference.y)))\" stroke=\"black\" stroke-dasharray=\"6 4\"/>\n"
        }
        var legend = Array(series.enumerated().map { ($0.element.name, SVGPlot.colors[$0.offset % SVGPlot.colors.count], false) })
        if let reference { legend.append((reference.label, "black", true)) }
        for (i, s) in series.enumerated() {
            let color = SVGPlot.colors[i % SVGPlot.colors.count]
            let points = s.points.sorted { $0.x < $1.x }.map { "\(number(px($0.x))),\(number(py($0.y)))" }
            svg += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>\n"
            for p in s.points { svg += "<circle cx=\"\(number(px(p.x)))\" cy=\"\(number(py(p.y)))\" r=\"3.5\" fill=\"\(color)\"/>\n" }
        }
        for (i, entry) in legend.enumerated() {
            let y = top + 10 + Double(i) * 20, x = width - right + 20
            svg += "<line x1=\"\(x)\" y1=\"\(y)\" x2=\"\(x + 24)\" y2=\"\(y)\" stroke=\"\(entry.1)\" stroke-width=\"2\"\(entry.2 ? " stroke-dasharray=\"6 4\"" : "")/>\n"
            svg += "<text x=\"\(x + 30)\" y=\"\(y + 4)\">\(SVGPlot.escape(entry.0))</text>\n"
        }
        return svg + "</svg>\n"
    }

    /// The data's range, padded a little; a flat range becomes one unit wide.
    private static func span(_ values: [Double]) -> (Double, Double) {
        guard let low = values.min(), let high = values.max() else { return (0, 1) }
        if high - low < 1e-9 { return (low - 0.5, high + 0.5) }
        let pad = (high - low) * 0.05
        return (low - pad, high + pad)
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
