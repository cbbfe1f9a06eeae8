import Testing
@testable import Jobs

@Suite struct JobOverridesTests {
    @Test func replacesValuesAndCreatesSections() throws {
        let text = try JobOverrides.apply(["seed=7", "distillation.temperature=4", "data.augment={translate: 1, flip: true}",
                                           "student.epochs=3", "cluster.lease_ms=2500"],
                                          to: JobSpecTests.minimal, file: "tiny.yaml")
        let job = try JobSpec.parse(text, file: "tiny.yaml with --set")
        #expect(job.seed == 7 && job.temperature == 4 && job.student.epochs == 3)
        #expect(job.data.augmentation.translate == 1 && job.data.augmentation.horizontalFlip)
        #expect(job.cluster.leaseMilliseconds == 2500)
        // What was not set stays as it was.
        #expect(job.name == "tiny" && job.student.model.text == "mlp:784-32-10")
        #expect(try JobOverrides.apply([], to: JobSpecTests.minimal, file: "tiny.yaml") == JobSpecTests.minimal)
    }

    @Test func mistakesAreReportedWithTheSetting() throws {
        for (setting, words) in [("temperature", "KEY=VALUE"), ("=4", "KEY=VALUE"), ("distillation..temperature=4", "empty part"),
                                 ("name.first=x", "not a mapping"), ("seed=[unclosed", "not valid YAML")] {
            #expect(throws: JobError.self) { try JobOverrides.apply([setting], to: JobSpecTests.minimal, file: "tiny.yaml") }
            do { _ = try JobOverrides.apply([setting], to: JobSpecTests.minimal, file: "tiny.yaml") } catch {
                #expect("\(error)".contains(words), "\(setting): \(error)")
            }
        }
        // A key the job format does not know is caught where every job file's is, with a hint.
        let text = try JobOverrides.apply(["distillation.temprature=4"], to: JobSpecTests.minimal, file: "tiny.yaml")
        do {
            _ = try JobSpec.parse(text, file: "tiny.yaml with --set")
            Issue.record("an unknown key was accepted")
        } catch {
            #expect("\(error)".contains("temperature"), "\(error)")
        }
    }
}
